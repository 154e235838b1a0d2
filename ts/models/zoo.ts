/** Imports every model family so that each registers its builders (see registry.ts). */
import './densenet';
import './efficientnet';
import './googlenet';
import './mobilenet';
import './resnet';
import './shufflenet';
