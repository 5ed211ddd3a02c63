// `npm run test:unit`: the suites that need neither root, socat, strace nor a
// build: ManualClock-driven engine and link timing, the parsers (frames,
// messages, intent lines, provider answers, their fuzz properties), config,
// logging. For the edit-test loop;
// `npm test` runs these and every other suite.
import base from './jest.config.js';

export default {
  ...base,
  testMatch: [
    '<rootDir>/test/unit/**/*.test.ts',
    '<rootDir>/test/config/{check,drop-ins,load,unix-group}.test.ts',
    '<rootDir>/test/fuzz/**/*.test.ts',
    '<rootDir>/test/drivers/{frame,link-timing,messages}.test.ts',
    '<rootDir>/test/intents/{line-reader,listen-fds,protocol}.test.ts',
    '<rootDir>/test/terminal/**/*.test.ts',
    '<rootDir>/test/leak/{auth-allowance,test-cards}.test.ts',
    '<rootDir>/test/payments/{engine,engine-void,payment-run,window-policy,state-lock}.test.ts',
    '<rootDir>/test/provider/{client-pair,key-pair,key-pool,otc-answer,pkcs1,track2}.test.ts',
    '<rootDir>/test/systemd/{log,loop-monitor,unit-file}.test.ts',
    '<rootDir>/test/cli/ledger-reader.test.ts',
  ],
};
