// Usage: node phash.mjs <dir> <concurrency>. Hashes every file in dir with sharp-phash, `concurrency` at a time,
// and prints one JSON line: {"images": n, "seconds": s, "imagesPerSecond": r}.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import phash from 'sharp-phash';

const [dir, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 2);
const files = (await readdir(dir)).sort().map(f => path.join(dir, f));
const start = process.hrtime.bigint();
let next = 0;
const hashes = new Array(files.length);
async function worker() {
  while (next < files.length) {
    const i = next++;
    hashes[i] = await phash(await readFile(files[i]));
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ images: files.length, seconds, imagesPerSecond: files.length / seconds, sample: hashes[0] }));
