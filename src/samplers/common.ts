import { PREDICTION_TYPES, type PredictionType } from '../models/prediction.js';

/** Every sampler reaches the model through ModelFn, which converts any prediction type. */
export const ALL_PREDICTIONS: readonly PredictionType[] = PREDICTION_TYPES;
