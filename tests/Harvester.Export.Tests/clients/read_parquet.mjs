// Reads every Parquet file of a Harvester export with hyparquet (a pure-JavaScript reader, independent of the .NET
// library that wrote them) and prints what a test needs as JSON: the Hugging Face features in the file metadata, the
// schema, and per row its columns plus the SHA-256 of the image bytes it holds.
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const root = process.argv[2]
const folder = join(root, 'parquet')
const files = {}
for (const name of readdirSync(folder).filter(f => f.endsWith('.parquet')).sort()) {
  const buf = readFileSync(join(folder, name))
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
  const metadata = parquetMetadata(file)
  const kv = Object.fromEntries((metadata.key_value_metadata ?? []).map(e => [e.key, e.value]))
  const rows = await parquetReadObjects({ file, utf8: false })
  files[name] = {
    numRows: Number(metadata.num_rows),
    rowGroups: metadata.row_groups.length,
    columns: parquetSchema(metadata).children.map(c => c.element.name),
    huggingface: kv.huggingface ? JSON.parse(kv.huggingface) : null,
    rows: rows.map(r => ({
      imageSha256: r.image.bytes ? createHash('sha256').update(r.image.bytes).digest('hex') : null,
      imageBytes: r.image.bytes ? r.image.bytes.length : 0,
      imagePath: r.image.path,
      path: r.path,
      shard: r.shard,
      split: r.split,
      label: r.label,
      label_index: Number(r.label_index),
      group: Number(r.group),
      image_id: Number(r.image_id),
      sha256: r.sha256,
      width: r.width,
      height: r.height,
      place: r.place,
      quality: r.quality,
    })),
  }
}
process.stdout.write(JSON.stringify(files))
