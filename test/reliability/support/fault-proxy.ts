import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' };

/** One direction of one connection: chunks wait here until the mode lets them through. */
class Direction {
  private readonly queue: { b: Buffer; at: number }[] = [];
  private busy = false;
  to: Socket | undefined;
  ended = false;

  constructor(private readonly proxy: FaultProxy) {}

  push(b: Buffer): void {
    this.queue.push({ b, at: Date.now() });
    void this.pump();
  }

  async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        const mode = this.proxy.mode;
        const head = this.queue[0];
        if (!head || !this.to || mode.kind === 'blackhole') break;
        if (mode.kind === 'delay') {
          const wait = head.at + mode.ms - Date.now();
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, wait));
            continue; // the mode may have changed meanwhile
          }
        }
        this.queue.shift();
        if (!this.to.destroyed) this.to.write(head.b);
      }
      if (this.queue.length === 0 && this.ended && this.to && !this.to.destroyed) this.to.end();
    } finally {
      this.busy = false;
    }
  }
}

/**
 * A TCP proxy on 127.0.0.1 in front of a backend (Vault), for the "slow" and
 * "black-holed backend" faults. Loopback only: it listens on 127.0.0.1 and
 * connects to `targetPort` on 127.0.0.1, nowhere else.
 *
 * - `delay`: every chunk, in both directions, is forwarded `ms` after it arrived (order kept).
 * - `blackhole`: like a route that drops packets: open connections go silent
 *   (nothing forwarded, nothing closed, no RST), and new connections are
 *   accepted but do not reach the backend. When the mode changes back, what
 *   was held is delivered and held connections are opened, as TCP
 *   retransmission would after the route returns.
 */
export class FaultProxy {
  mode: ProxyMode = { kind: 'pass' };
  private server: Server | undefined;
  private readonly conns = new Set<{ client: Socket; open(): void; dirs: Direction[] }>();

  constructor(private readonly targetPort: number) {}

  async listen(): Promise<string> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  set(mode: ProxyMode): void {
    this.mode = mode;
    if (mode.kind === 'blackhole') return;
    for (const c of this.conns) {
      c.open();
      for (const d of c.dirs) void d.pump();
    }
  }

  private accept(client: Socket): void {
    const up = new Direction(this);
    const down = new Direction(this);
    down.to = client;
    let upstream: Socket | undefined;
    const conn = {
      client,
      dirs: [up, down],
      open: () => {
        if (upstream || client.destroyed) return;
        upstream = connect(this.targetPort, '127.0.0.1');
        upstream.on('data', (b: Buffer) => down.push(b));
        upstream.on('end', () => {
          down.ended = true;
          void down.pump();
        });
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => client.destroy());
        up.to = upstream;
        void up.pump();
      },
    };
    this.conns.add(conn);
    client.on('data', (b: Buffer) => up.push(b));
    client.on('end', () => {
      up.ended = true;
      void up.pump();
    });
    client.on('error', () => upstream?.destroy());
    client.on('close', () => {
      upstream?.destroy();
      this.conns.delete(conn);
    });
    if (this.mode.kind !== 'blackhole') conn.open();
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.client.destroy();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }
}
