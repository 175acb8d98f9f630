import { describe, expect, it } from 'vitest';
import { HelperConnection } from '../../src/helper/helper-connection.js';

// Holds keep Node's event loop alive while the helper works. A hold released twice used to
// count twice, so the count went below what was pending and Node could exit with work in flight.
describe('helper holds', () => {
  it('each hold counts once, however often it is released', () => {
    const conn = new HelperConnection();
    const a = conn.hold();
    const b = conn.hold();
    expect(conn.heldCount).toBe(2);
    a.release();
    a.release();
    expect(a.released).toBe(true);
    expect(conn.heldCount).toBe(1);
    b.release();
    expect(conn.heldCount).toBe(0);
    b.release();
    expect(conn.heldCount).toBe(0);
    expect(conn.hold().released).toBe(false);
    expect(conn.heldCount).toBe(1);
  });
});
