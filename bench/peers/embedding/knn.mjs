// hnswlib-node on the vectors written by bench/Harvester.Bench.Embedding: same M, efConstruction, ef and k as pgvector.
// Usage: node knn.mjs <dir with data.f32, queries.f32, truth.json> <dim> <M> <efConstruction> <ef> <k>
import fs from 'node:fs';
import path from 'node:path';
import hnswlib from 'hnswlib-node';

const [dir, dimS, mS, efcS, efS, kS] = process.argv.slice(2);
const [dim, M, efC, ef, k] = [dimS, mS, efcS, efS, kS].map(Number);
const read = (f) => {
  const b = fs.readFileSync(path.join(dir, f));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const data = read('data.f32');
const queries = read('queries.f32');
const { truth, truthFiltered } = JSON.parse(fs.readFileSync(path.join(dir, 'truth.json'), 'utf8'));
const n = data.length / dim;
const q = queries.length / dim;

let t = process.hrtime.bigint();
const index = new hnswlib.HierarchicalNSW('cosine', dim);
index.initIndex(n, M, efC, 100);
for (let i = 0; i < n; i++) {
  index.addPoint(Array.from(data.subarray(i * dim, (i + 1) * dim)), i);
}
const buildSeconds = Number(process.hrtime.bigint() - t) / 1e9;
index.setEf(ef);

function measure(filter, expected) {
  const lat = [];
  let hits = 0;
  let short = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < q; i++) {
    const query = Array.from(queries.subarray(i * dim, (i + 1) * dim));
    const s = process.hrtime.bigint();
    const res = filter ? index.searchKnn(query, k, filter) : index.searchKnn(query, k);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    const want = new Set(expected[i]);
    hits += res.neighbors.filter((x) => want.has(x)).length;
    if (res.neighbors.length < k) short++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  return { recall: hits / (q * k), p50: lat[Math.floor(q / 2)], p95: lat[Math.floor(q * 0.95)], qps: q / seconds, short };
}

const plain = measure(null, truth);
const filtered = measure((label) => label % 10 === 0, truthFiltered);
process.stdout.write(JSON.stringify({ buildSeconds, plain, filtered }));
