import { join } from 'node:path';
import type { Tensor } from '../../src/core/tensor.js';
import { featureStats, frechetDistanceOfStats, knnRadii2, precisionRecall, unplaceableShare } from '../../src/metrics/sample-quality.js';
import { OnnxClassifier } from '../../src/models/classifier-onnx.js';
import { packageRoot } from '../../src/package-root.js';
import { fmnistTest, fmnistTrain } from './fmnist.js';

/** The reference set: all 10,000 Fashion-MNIST test images. */
export const REFERENCE = 10000;

/** Sample quality of a set of images against the reference set, in the classifier's feature space. */
export interface QualityFigures {
  n: number;
  fd: number;
  precision: number;
  recall: number;
  /** Share whose largest softmax probability is below 0.5. */
  unplaceable: number;
}

/** The yardstick of bench quality and bench guidance: weights/fmnist-classifier and the test images' statistics. */
export interface FmnistYardstick {
  classes: number;
  /** The figures of images x in the model range [-1, 1], with the classifier's logits [n, classes]. */
  measure(x: Tensor): Promise<QualityFigures & { logits: Tensor }>;
  /** The floor: the first n training images (for n = N and n = the reference size) against the test images. */
  floor(n: number): Promise<QualityFigures[]>;
  release(): Promise<void>;
}

/** Load the classifier and classify the reference set (minutes on one thread). */
export async function fmnistYardstick(threads: number, log: (m: string) => void): Promise<FmnistYardstick> {
  const classifier = await OnnxClassifier.load(join(packageRoot, 'weights', 'fmnist-classifier'), { threads });
  const classes = classifier.classes.length;
  log(`classifying the ${REFERENCE} test images and their k-NN radii ...`);
  const test = await classifier.classify(fmnistTest(REFERENCE));
  const d = test.features.shape[1]!;
  const testStats = featureStats(test.features.data, d, 'test features');
  const testRadii2 = knnRadii2(test.features.data, d);
  const measure = async (x: Tensor) => {
    const { logits, features } = await classifier.classify(x);
    const pr = precisionRecall(test.features.data, features.data, d, { realRadii2: testRadii2 });
    return { n: x.batch, fd: frechetDistanceOfStats(featureStats(features.data, d, 'sample features'), testStats), ...pr, unplaceable: unplaceableShare(logits.data, classes), logits };
  };
  const floor = async (n: number) => {
    const sizes = [...new Set([n, REFERENCE])];
    const train = fmnistTrain(Math.max(...sizes));
    const rows: QualityFigures[] = [];
    for (const size of sizes) {
      const { logits: _, ...figures } = await measure(train.sliceBatch(0, size));
      rows.push(figures);
    }
    return rows;
  };
  return { classes, measure, floor, release: () => classifier.release() };
}
