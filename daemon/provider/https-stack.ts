/**
 * Everything the provider client needs to talk HTTPS, in one module that the
 * client loads on first use (`OtcClient.prepare()` right after READY, or the
 * first inquiry): got, Node's https/tls and hpagent. None of it is needed to
 * be READY, and loading it is most of what a client costs: got alone costs
 * ~250 ms on this class of machine, Node's TLS stack and hpagent another
 * ~15-20 ms of start to READY (scripts/diag/startup-profile.ts).
 */
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext, rootCertificates } from 'node:tls';
import got, { type Got } from 'got';
import { HttpsProxyAgent } from 'hpagent';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpsStack {
  got: Got;
  /**
   * The agent and its one TLS context for the daemon's life. Left to the
   * agent, every connection (keep-alive is off) would build its own context and
   * parse ~140 root certificates again: ~24 ms of CPU and ~1 MiB outside the
   * JS heap per inquiry, found by `npm run bench` as RSS growing from 72 to
   * 268 MiB over 1,000 payments.
   */
  makeAgent(tls: TlsMaterial, proxy: string | undefined): HttpsAgent;
  /** True for a TLS socket (its handshake ends with 'secureConnect'). */
  isTls(socket: Socket): socket is TLSSocket;
}

export const httpsStack: HttpsStack = {
  got,
  makeAgent(tls, proxy) {
    const secureContext = createSecureContext({
      minVersion: 'TLSv1.2',
      ...(tls.ca !== undefined ? { ca: [...rootCertificates, tls.ca] } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
    });
    const options: AgentOptions = { keepAlive: false, minVersion: 'TLSv1.2', secureContext };
    return proxy !== undefined ? new HttpsProxyAgent({ ...options, proxy }) : new HttpsAgent(options);
  },
  isTls: (socket): socket is TLSSocket => socket instanceof TLSSocket,
};
