// Three records in the data.<pos> layout (offset, lex file, type, hex word count, word lex_id …, pointers | gloss).
/** Test fixture: a data.noun-like file. */
export const FIXTURE = [
  '  1 This software and database is being provided to you, the LICENSEE, by',
  '  2 Princeton University under the following license.',
  '00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04431553 n 0000 | that which is perceived or known or inferred to have its own distinct existence (living or nonliving)  ',
  '00002137 03 n 02 abstraction 0 abstract_entity 0 010 @ 00001740 n 0000 | a general concept formed by extracting common features from specific examples  ',
  '00003553 03 n 02 whole 0 unit 0 001 @ 00002137 n 0000 | an assemblage of parts that is regarded as a single entity; "how big is that part compared to the whole?"; "the team is a unit"  ',
  '00005205 00 s 02 Ablaze(p) 0 afire(p) 0 000 | lighted up by or as if by fire or flame; "the evening sky was ablaze"  ',
  '',
].join('\n');
