// Bursts that take turns (`interleavedChunks`), each client's on one connection per round:
// opened before its first burst and closed (the close handshake awaited) after its last,
// outside every timed burst, its own and the other clients'.

// For each row, the function `interleavedChunks` calls with the part's index: `burst(handle)`
// times one burst on the row's connection (opened as `window.bench.openBursts(peerOf(row), url)`).
export function burstsOnOneConnection(browser, rows, { url, parts, burst, peerOf = (row) => row }) {
  const handles = {};
  return Object.fromEntries(rows.map((row) => [row, async (part) => {
    if (part === 0) handles[row] = await browser.eval(([p, u]) => window.bench.openBursts(p, u), [peerOf(row), url]);
    const ms = await burst(handles[row]);
    if (part === parts - 1) await browser.eval((h) => window.bench.closeBursts(h), handles[row]);
    return ms;
  }]));
}
