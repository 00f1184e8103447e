// `node --import dist/test/cli/import-recorder.js ...`: record the modules a process imports
// (see import-recorder-hooks.ts). For test/cli/start-up.test.ts.
import { register } from 'node:module';

register('./import-recorder-hooks.js', import.meta.url);
