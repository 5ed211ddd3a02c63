/**
 * A self-signed X.509 v3 certificate for the provider stand-in, built with a
 * tiny DER encoder and crypto.sign.
 *
 * Why not openssl: Node has no X.509 builder, and a fresh kiosk or CI machine
 * need not have /usr/bin/openssl; 80 lines of DER keep the stand-in free of
 * both a binary and a dependency. The key is ECDSA P-256 (instant to make;
 * the client's TLS does not care), signed with ecdsa-with-SHA256.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_UTC_TIME = 0x17;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;
const TAG_CONTEXT_CONSTRUCTED = 0xa0;
const TAG_CONTEXT_PRIMITIVE = 0x80;
/** GeneralName choices (RFC 5280 4.2.1.6). */
const SAN_DNS_NAME = 2;
const SAN_IP_ADDRESS = 7;

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** keyUsage bits: digitalSignature (0) and keyCertSign (5), as a BIT STRING with 2 unused bits. */
const KEY_USAGE_DIGITAL_SIGNATURE_CERT_SIGN = Buffer.from([0x02, 0x84]);

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(TAG_SEQUENCE, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(TAG_SET, Buffer.concat(items));
const explicit = (n: number, inner: Buffer): Buffer => tlv(TAG_CONTEXT_CONSTRUCTED | n, inner);
const octetString = (b: Buffer): Buffer => tlv(TAG_OCTET_STRING, b);
const bitString = (b: Buffer, unusedBits = 0): Buffer => tlv(TAG_BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), b]));

function integer(value: Buffer | number): Buffer {
  let b = typeof value === 'number' ? Buffer.from([value]) : value;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(TAG_INTEGER, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const groups: number[] = [];
    let v = part;
    do {
      groups.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let k = 0; k < groups.length - 1; k++) groups[k]! |= 0x80;
    out.push(...groups);
  }
  return tlv(TAG_OID, Buffer.from(out));
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(TAG_UTC_TIME, Buffer.from(s, 'ascii'));
}

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID_COMMON_NAME), tlv(TAG_UTF8_STRING, Buffer.from(commonName, 'utf8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(TAG_BOOLEAN, Buffer.from([0xff]))] : []), octetString(value));
}

function ipv4(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  key: KeyObject;
}

/**
 * A certificate for `commonName` with SAN DNS names and IPv4 addresses,
 * valid from an hour ago for `days` days, and the key it certifies.
 * basicConstraints CA:TRUE so that a client can trust it directly as its CA.
 */
export function makeSelfSignedCertificate(opts: { commonName: string; dnsNames: string[]; ipAddresses: string[]; days?: number }): SelfSignedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const notBefore = new Date(now - 3_600_000);
  const notAfter = new Date(now + (opts.days ?? 30) * 86_400_000);
  const signatureAlgorithm = seq(oid(OID_ECDSA_WITH_SHA256));
  const subjectAltNames = seq(
    ...opts.dnsNames.map((n) => tlv(TAG_CONTEXT_PRIMITIVE | SAN_DNS_NAME, Buffer.from(n, 'ascii'))),
    ...opts.ipAddresses.map((ip) => tlv(TAG_CONTEXT_PRIMITIVE | SAN_IP_ADDRESS, ipv4(ip))),
  );
  const extensions = seq(
    extension(OID_BASIC_CONSTRAINTS, true, seq(tlv(TAG_BOOLEAN, Buffer.from([0xff])))),
    extension(OID_KEY_USAGE, true, tlv(TAG_BIT_STRING, KEY_USAGE_DIGITAL_SIGNATURE_CERT_SIGN)),
    extension(OID_EXT_KEY_USAGE, false, seq(oid(OID_SERVER_AUTH))),
    extension(OID_SUBJECT_ALT_NAME, false, subjectAltNames),
  );
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    explicit(0, integer(2)), // version v3
    integer(serial),
    signatureAlgorithm,
    name(opts.commonName),
    seq(utcTime(notBefore), utcTime(notAfter)),
    name(opts.commonName),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, signatureAlgorithm, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem, key: createPrivateKey(keyPem) };
}
