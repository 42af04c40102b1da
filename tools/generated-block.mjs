// The generated blocks of the docs: `<!-- BEGIN GENERATED: id -->` … `<!-- END GENERATED: id -->`,
// shared by every docs generator so they all mark and replace blocks the same way.

const begin = (id) => `<!-- BEGIN GENERATED: ${id} -->`;
const end = (id) => `<!-- END GENERATED: ${id} -->`;

/** `doc` with the block `id` replaced; a document without the block's markers is an error, not a silent append. */
export function withBlock(doc, id, body, file) {
  const a = doc.indexOf(begin(id));
  const b = doc.indexOf(end(id));
  if (a === -1 || b < a) throw new Error(`${file} lacks the markers ${begin(id)} … ${end(id)}`);
  return `${doc.slice(0, a)}${begin(id)}\n${body}\n${doc.slice(b)}`;
}
