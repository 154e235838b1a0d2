/**
 * Image warnings (no lung mask, an empty mask, a box clipped to its image, a blank clip) as a
 * person reads them: each kind once, with the image it was first met on, then one line per kind
 * counting the others. A data set without masks (covid-cxr) printed a line per image, and
 * train()'s three loaders printed five lines each and a count each, 18 lines saying one thing.
 *
 *   const w = new ImageWarnings((m) => console.error(m));   // one for every loader of a run
 *   w.add('000001-2', '/data/x.png', 'no lung mask or box: using the whole image');
 *   w.flush();   // 'warning: 185 more images: no lung mask or box: using the whole image (186 image warnings in all)'
 *
 * Kinds whose text names the image (a mask of another size) are shown one by one up to
 * SHOWN lines; past that they are counted together as "other warnings".
 */

/** Lines printed one by one (each the first image of its kind) before the rest is counted. */
export const SHOWN = 5;

export class ImageWarnings {
  /** kind → images of that kind met since the last flush and not printed */
  private unshown = new Map<string, number>();
  private kinds = new Set<string>();
  private shown = 0;
  private other = 0;
  private total = 0;

  /**
   * @param log where the lines go
   * @param where where the full list is kept, said in the count lines (e.g. 'loader.report().warnings lists them'); none: not said
   */
  constructor(private readonly log: (msg: string) => void, private readonly where?: string) {}

  /** One image's warning: `kind` is its text without the file, so that images share it. */
  add(id: string, file: string | undefined, kind: string): void {
    this.total++;
    if (!this.kinds.has(kind) && this.shown < SHOWN) {
      this.kinds.add(kind);
      this.shown++;
      this.log(`warning: ${id}: ${file ? `${file}: ` : ''}${kind}`);
    } else if (this.kinds.has(kind)) this.unshown.set(kind, (this.unshown.get(kind) ?? 0) + 1);
    else this.other++;
  }

  /** A line per kind for the images not printed since the last flush, and one for the other kinds. */
  flush(): void {
    const where = this.where ? `; ${this.where}` : '';
    const n = (k: number) => `${k} more image${k > 1 ? 's' : ''}`;
    for (const [kind, k] of this.unshown) this.log(`warning: ${n(k)}: ${kind} (${this.total} image warnings in all${where})`);
    if (this.other) this.log(`warning: ${n(this.other)} with other warnings (${this.total} image warnings in all${where})`);
    this.unshown.clear();
    this.other = 0;
  }
}
