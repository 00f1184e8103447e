// Entry point for scripts/bench.sh (`npm run bench -- starts`), which runs bench/*.bench.ts:
// the start-time benchmark of bench/starts.ts with its defaults (5 runs, 1 Gbit/s, 1 ms RTT).
import './starts.js';
