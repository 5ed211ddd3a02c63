/**
 * Module hook for scripts/diag/startup-profile.ts's file count
 * (`node --experimental-loader` it): appends the URL of every module Node
 * loads through the ESM loader to the file named by OTCD_DIAG_ESM_LOG. It
 * runs on the loader thread and slows loading down, so the profiler uses it
 * in a separate, untimed run.
 */
import { appendFileSync } from 'node:fs';

type NextLoad = (url: string, context: object) => Promise<unknown>;

const logFile = process.env.OTCD_DIAG_ESM_LOG;

export async function load(url: string, context: object, nextLoad: NextLoad): Promise<unknown> {
  if (logFile !== undefined && url.startsWith('file:')) appendFileSync(logFile, `${url}\n`);
  return nextLoad(url, context);
}
