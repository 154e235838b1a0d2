/**
 * Child process of the resume test: runs the tiny sweep of `sweepConfig` in the runs folder
 * given as argv[2] on the data in argv[3], argv[4]. The parent kills it with SIGKILL mid-job.
 */
import { experiment } from '../../ts/train/experiment';
import { sweepConfig } from './_sweep';

experiment(sweepConfig(process.argv[2], process.argv[3], process.argv[4])).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
