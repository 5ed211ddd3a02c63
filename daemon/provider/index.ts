export { ProviderError, BadOtcError, BAD_OTC_MESSAGE, type ProviderErrorCode, type TimeoutPhase } from './errors.js';
export { normaliseTrack2, isValidTrack2, maskPan, TRACK2_MAX_CHARS } from './track2.js';
export {
  RsaOtcKeyPair, decodeStrictBase64, RSA_MODULUS_BITS, RSA_CIPHERTEXT_BYTES, SPKI_BASE64_CHARS, type OtcKeyPair,
} from './key-pair.js';
export { KeyPool, type KeyPoolOptions } from './key-pool.js';
export {
  parseOtcAnswer, decodeJsonObject, eucKrByteLength, ANSWER_MAX_BYTES, REQUEST_MAX_BYTES, PROVIDER_CHARSET, SUCCESS_RES_CD,
  type OtcAnswer,
} from './otc-answer.js';
export { OtcClient, OTC_INQUIRY_PATH, REQUEST_CONTENT_TYPE, type ProviderOptions, type InquireOptions } from './otc-client.js';
