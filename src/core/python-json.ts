/**
 * JSON as Python's json module writes it: standard JSON plus the bare tokens NaN, Infinity and -Infinity
 * (json.dumps' default allow_nan=True; diffusers' save_pretrained writes "lambda_min_clipped": -Infinity).
 * The tokens are rewritten outside strings before JSON.parse: +-Infinity as +-1e999 padded to the same length
 * (so JSON.parse's error positions stay true up to the first NaN), NaN as a sentinel string the reviver turns back
 * into NaN.
 */
export function parsePythonJson(text: string): unknown {
  let sentinel = '__tweedie_nan__';
  while (text.includes(sentinel)) sentinel = `_${sentinel}_`;
  let out = '', i = 0, sawNaN = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      // Copy a string literal as it is, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('-Infinity', i)) {
      out += '-1e999   ';
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      out += '1e999   ';
      i += 8;
    } else if (text.startsWith('NaN', i)) {
      out += `"${sentinel}"`;
      sawNaN = true;
      i += 3;
    } else {
      out += c;
      i++;
    }
  }
  try {
    return sawNaN ? JSON.parse(out, (_k, v: unknown) => (v === sentinel ? NaN : v)) : JSON.parse(out);
  } catch (e) {
    // JSON.parse quotes the text it read: show the tokens as the file has them.
    if (e instanceof SyntaxError) e.message = e.message.replaceAll('1e999   ', 'Infinity').replaceAll(`"${sentinel}"`, 'NaN');
    throw e;
  }
}
