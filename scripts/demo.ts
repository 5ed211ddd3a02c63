/**
 * `npm run demo`: one whole payment, end to end, on this machine.
 *
 * Starts the provider stand-in (HTTPS on loopback), the terminal simulator
 * (ecr1 over TCP, so no serial port or pty is needed) and the real otcd
 * daemon on temporary paths, then pays as a kiosk application would: one
 * `pay` line on the intent socket, and the events as they come. Exits 0 when
 * the payment is approved. Everything it started, it stops.
 *
 * `npm run demo -- --void`: the second story. The payment is approved, the
 * kiosk then fails to deliver (the drink does not drop), and it voids the
 * payment: one `void` line, the events until `voided`. Exits 0 when voided.
 */
import { startStack, waitForTerminalLink, type Stack } from './testkit/stack.js';

const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const USAGE = 'usage: npm run demo [-- --void]   (--void: approve, then void the payment as a kiosk that could not deliver)';

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--void');
  if (unknown.length > 0) {
    console.error(`demo: unknown argument ${unknown[0]}\n${USAGE}`);
    return 64;
  }
  const voidStory = argv.includes('--void');
  console.log(bold(`otcd demo: provider stand-in + terminal simulator + otcd, one payment${voidStory ? ', then its void' : ''}`));
  let stack: Stack | undefined;
  try {
    stack = await startStack({ logFormat: 'pretty', onDaemonLog: (line) => console.log(dim(`  [otcd] ${line}`)) });
    console.log(`provider stand-in  ${stack.standin.baseUrl}`);
    console.log(`terminal simulator tcp://127.0.0.1:${stack.sim?.tcpPort}`);
    console.log(`otcd socket        ${stack.socketPath}`);

    const client = await stack.connect();
    await waitForTerminalLink(client, 15_000);
    const intentId = `demo-${Date.now()}`;
    const pay = { op: 'pay', req: 'demo-1', intentId, authorizationId: 'DEMO-AUTH-0001', amount: 12000, installment: 0 };
    console.log(`\nkiosk -> otcd  ${JSON.stringify(pay)}`);
    client.onMessage = (m) => console.log(`otcd -> kiosk  ${JSON.stringify(m)}`);
    const reply = await client.request(pay);
    if (reply.type === 'error') throw new Error(`pay refused: ${String(reply.code)} ${String(reply.message)}`);
    const final = await client.finalEvent(intentId, 60_000);
    if (voidStory && final.state === 'approved') {
      console.log(bold(`\napproved (${String(final.approvalNo)}); the kiosk could not deliver: the drink did not drop. Voiding.`));
      const voidLine = { op: 'void', req: 'demo-2', intentId, reason: 'dispense failed' };
      console.log(`\nkiosk -> otcd  ${JSON.stringify(voidLine)}`);
      const voidReply = await client.request(voidLine);
      if (voidReply.type === 'error') throw new Error(`void refused: ${String(voidReply.code)} ${String(voidReply.message)}`);
      const end = await client.next((m) => m.type === 'event' && m.intentId === intentId
        && (m.state === 'voided' || ((m.void as { state?: string } | undefined)?.state ?? 'voiding') !== 'voiding'), 60_000);
      client.close();
      console.log('');
      if (end.state === 'voided') {
        console.log(bold(`voided: reversal number ${String(end.voidApprovalNo)} of approval ${String(end.approvalNo)}, card ${String(end.maskedPan)}`));
        return 0;
      }
      console.log(bold(`void did not go through: ${JSON.stringify(end.void)}`));
      return 1;
    }
    client.close();
    console.log('');
    if (final.state === 'approved') {
      console.log(bold(`approved: approval number ${String(final.approvalNo)}, card ${String(final.maskedPan)}`));
      return 0;
    }
    console.log(bold(`payment ended ${String(final.state)}: ${String(final.code ?? '')} ${String(final.message ?? '')}`));
    return 1;
  } finally {
    await stack?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
