/**
 * Exact integrals of the Lagrange basis L_j on given nodes against a weight, the coefficients of Adams-type multistep
 * methods: plain (LMS: int_0^1 L_j(u) du) and exponential (DEIS, SA-Solver: int_0^W L_j(w) e^w dw).
 */

/** int L_j(w) weight(w) dw for each node j, from the weight's moments M_k = int w^k weight(w) dw (monomial expansion). */
function lagrangeIntegrals(nodes: readonly number[], moments: readonly number[]): number[] {
  return nodes.map((wj, j) => {
    let poly = [1];
    let den = 1;
    nodes.forEach((wm, m) => {
      if (m === j) return;
      const next = new Array<number>(poly.length + 1).fill(0);
      poly.forEach((c, k) => {
        next[k + 1]! += c;
        next[k]! -= wm * c;
      });
      poly = next;
      den *= wj - wm;
    });
    return poly.reduce((acc, c, k) => acc + c * moments[k]!, 0) / den;
  });
}

/** int_0^1 L_j(u) du for the Lagrange basis on nodes u. */
export function lagrangeIntegrals01(nodes: readonly number[]): number[] {
  return lagrangeIntegrals(nodes, nodes.map((_, k) => 1 / (k + 1)));
}

/** I_k = int_0^W w^k e^w dw for k = 0..n-1 (series for |W| < 1, where the recursion I_k = W^k e^W - k I_{k-1} cancels). */
function expMoments(W: number, n: number): number[] {
  const out: number[] = [];
  if (Math.abs(W) < 1) {
    for (let k = 0; k < n; k++) {
      let pw = W ** (k + 1), fact = 1, sum = 0;
      for (let j = 0; j < 40; j++) {
        const term = pw / (fact * (k + j + 1));
        sum += term;
        if (Math.abs(term) < 1e-18 * Math.abs(sum)) break;
        pw *= W;
        fact *= j + 1;
      }
      out.push(sum);
    }
    return out;
  }
  const e = Math.exp(W);
  for (let k = 0; k < n; k++) out.push(k === 0 ? Math.expm1(W) : W ** k * e - k * out[k - 1]!);
  return out;
}

/** int_0^W L_j(w) e^w dw, j over the nodes, for the Lagrange basis on `nodes`. */
export function lagrangeExpIntegrals(nodes: readonly number[], W: number): number[] {
  return lagrangeIntegrals(nodes, expMoments(W, nodes.length));
}
