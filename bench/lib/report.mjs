// Turns the benchmark's samples into medians, ratios, the goals table, the
// console tables and the generated part of docs/benchmarks.md.

export const OPS = ['encrypt', 'decrypt'];

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const r3 = (x) => (x === undefined ? undefined : Math.round(x * 1000) / 1000);

/** Median of each figure over the repetitions of one (target, op, concurrency) cell. */
export function summarise(cells) {
  const out = {};
  for (const c of cells) {
    const t = (out[c.target] ??= {});
    const o = (t[c.op] ??= {});
    (o[c.concurrency] ??= []).push(c);
  }
  for (const t of Object.values(out)) {
    for (const o of Object.values(t)) {
      for (const [k, reps] of Object.entries(o)) {
        const pick = (f) => r3(median(reps.map(f)));
        o[k] = {
          reps: reps.length,
          throughput_per_s: pick((c) => c.throughput_per_s),
          p50_ms: pick((c) => c.p50_ms),
          p99_ms: pick((c) => c.p99_ms),
          p999_ms: pick((c) => c.p999_ms),
          max_ms: r3(Math.max(...reps.map((c) => c.max_ms ?? 0))),
          cpu_us_per_op: pick((c) => c.cpu_us_per_op),
          loop_p99_ms: pick((c) => c.loop_p99_ms),
          loop_max_ms: pick((c) => c.loop_max_ms),
          errors: reps.reduce((n, c) => n + (c.errors ?? 0), 0),
          load1: pick((c) => c.load1),
        };
      }
    }
  }
  return out;
}

/**
 * kleidi ÷ baseline per (op, concurrency): each repetition's pair ran back to
 * back, so the ratio is taken per pair and then the median over the pairs.
 */
export function ratios(cells, kleidi, baseline) {
  const out = {};
  const key = (c) => `${c.op}/${c.concurrency}/${c.rep}`;
  const base = new Map(cells.filter((c) => c.target === baseline).map((c) => [key(c), c]));
  const pairs = {};
  for (const k of cells.filter((c) => c.target === kleidi)) {
    const b = base.get(key(k));
    if (!b) continue;
    ((pairs[k.op] ??= {})[k.concurrency] ??= []).push([k, b]);
  }
  for (const [op, byC] of Object.entries(pairs)) {
    for (const [c, ps] of Object.entries(byC)) {
      const ratio = (f) => r3(median(ps.map(([k, b]) => (f(b) > 0 ? f(k) / f(b) : undefined))));
      (out[op] ??= {})[c] = {
        throughput: ratio((x) => x.throughput_per_s),
        p99: ratio((x) => x.p99_ms),
        cpu_per_op: ratio((x) => x.cpu_us_per_op),
      };
    }
  }
  return out;
}

const GOALS = [
  { id: 'go-ratio', measure: 'local backend, Decrypt at 16 callers, throughput', goal: '≥ 1.0 × the Go reference' },
  { id: 'local-p99', measure: 'local backend, p99 latency (Decrypt at 16 callers)', goal: '≤ 2 ms' },
  { id: 'softhsm', measure: 'SoftHSM (Decrypt at 16 callers)', goal: '≥ 80 % of raw pkcs11js throughput' },
  { id: 'vault', measure: 'OpenBao/Vault (Decrypt at 16 callers)', goal: '≥ 90 % of direct transit throughput' },
  { id: 'loop', measure: 'event-loop delay p99 under full load (64 callers)', goal: '≤ 10 ms' },
  { id: 'ready', measure: 'start to ready (median)', goal: '≤ 500 ms' },
  { id: 'rss', measure: 'peak RSS', goal: '≤ 100 MB' },
  { id: 'storm', measure: 'cold-start storm, 1,000 Decrypts (local and SoftHSM)', goal: '≤ 1 s' },
];

const fmt = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const mb = (b) => (b === undefined ? '–' : `${(b / 1048576).toFixed(1)} MB`);

/** The goals in docs/benchmarks.md with what this run measured; reported, never asserted. */
export function goals(result) {
  const b = result.backends;
  const ok = (name) => b[name]?.status === 'ok';
  const s = (name, target, op, c) => b[name]?.summary?.[target]?.[op]?.[c];
  const ratio = (name, op, c) => b[name]?.ratios?.[op]?.[c];
  const rows = [];
  for (const g of GOALS) {
    let measured = 'not measured';
    let met;
    switch (g.id) {
      case 'go-ratio': {
        const r = ok('local') ? ratio('local', 'decrypt', 16) : undefined;
        if (r) {
          const k = s('local', 'kleidi-local', 'decrypt', 16);
          const go = s('local', 'go-reference', 'decrypt', 16);
          measured = `${fmt(r.throughput)} × (${fmt(k?.throughput_per_s, 0)} vs ${fmt(go?.throughput_per_s, 0)} /s)`;
          met = r.throughput >= 1.0;
        }
        break;
      }
      case 'local-p99': {
        const k = ok('local') ? s('local', 'kleidi-local', 'decrypt', 16) : undefined;
        if (k) {
          const go = s('local', 'go-reference', 'decrypt', 16);
          const e = s('local', 'kleidi-local', 'encrypt', 16);
          measured = `${fmt(k.p99_ms)} ms (Go reference ${fmt(go?.p99_ms)} ms; Encrypt ${fmt(e?.p99_ms)} ms; at 1 caller ${fmt(s('local', 'kleidi-local', 'decrypt', 1)?.p99_ms)} ms)`;
          met = k.p99_ms <= 2;
        }
        break;
      }
      case 'softhsm':
      case 'vault': {
        const name = g.id === 'softhsm' ? 'pkcs11' : 'vault';
        const r = ok(name) ? ratio(name, 'decrypt', 16) : undefined;
        if (r) {
          const k = s(name, `kleidi-${name}`, 'decrypt', 16);
          const raw = s(name, `raw-${name}`, 'decrypt', 16);
          const e = ratio(name, 'encrypt', 16);
          measured = `${fmt(r.throughput * 100, 0)} % (${fmt(k?.throughput_per_s, 0)} vs ${fmt(raw?.throughput_per_s, 0)} /s; Encrypt ${fmt(e?.throughput * 100, 0)} %)`;
          met = r.throughput >= (g.id === 'softhsm' ? 0.8 : 0.9);
        } else if (b[name]?.status && b[name].status !== 'ok') {
          measured = b[name].status;
        }
        break;
      }
      case 'loop': {
        const per = Object.entries(b)
          .filter(([, v]) => v.status === 'ok' && v.event_loop_p99_ms !== undefined)
          .map(([n, v]) => [n, v.event_loop_p99_ms]);
        if (per.length) {
          const worst = Math.max(...per.map(([, v]) => v));
          measured = `${fmt(worst)} ms worst (${per.map(([n, v]) => `${n} ${fmt(v)}`).join(', ')})`;
          met = worst <= 10;
        }
        break;
      }
      case 'ready': {
        const per = Object.entries(b)
          .filter(([n, v]) => v.status === 'ok' && v.startup?.[`kleidi-${n}`])
          .map(([n, v]) => [n, v.startup[`kleidi-${n}`].median_ms]);
        if (per.length) {
          const worst = Math.max(...per.map(([, v]) => v));
          const go = b.local?.startup?.['go-reference']?.median_ms;
          measured = `${per.map(([n, v]) => `${n} ${fmt(v, 0)} ms`).join(', ')}${go !== undefined ? ` (Go reference ${fmt(go, 0)} ms)` : ''}`;
          met = worst <= 500;
        }
        break;
      }
      case 'rss': {
        const per = Object.entries(b)
          .filter(([, v]) => v.status === 'ok' && v.peak_rss_bytes?.kleidi !== undefined)
          .map(([n, v]) => [n, v.peak_rss_bytes.kleidi]);
        if (per.length) {
          const worst = Math.max(...per.map(([, v]) => v));
          measured = `${mb(worst)} worst (${per.map(([n, v]) => `${n} ${mb(v)}`).join(', ')})`;
          met = worst <= 100 * 1048576;
        }
        break;
      }
      case 'storm': {
        const per = ['local', 'pkcs11']
          .filter((n) => ok(n) && b[n].storm?.kleidi?.cold)
          .map((n) => [n, b[n].storm.kleidi.cold, b[n].storm.kleidi.warm]);
        if (per.length) {
          const worst = Math.max(...per.map(([, c]) => ((c.errors_total ?? c.errors) ? Infinity : c.wall_ms)));
          measured = per
            .map(
              ([n, c, w]) =>
                `${n} ${fmt(c.wall_ms, 0)} ms fresh / ${fmt(w?.wall_ms, 0)} ms warm${c.errors ? ` (${c.errors} errors)` : ''}`,
            )
            .join(', ');
          met = worst <= 1000;
        }
        break;
      }
    }
    rows.push({ measure: g.measure, goal: g.goal, measured, met });
  }
  return rows;
}

/** A plain-text table; the first `left` columns are left-aligned, the others right-aligned. */
function table(header, rows, left = 3) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c ?? '–')));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i < left ? c.padEnd(w[i]) : c.padStart(w[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The console report. */
export function printReport(result, out = console.log) {
  const m = result.machine;
  out(
    `\nkleidi benchmark (${result.kind}): ${m.nproc} CPUs ${m.cpu}, ${mb(m.memory_bytes)}, load average ${fmt(result.load_average.start.one)} → ${fmt(result.load_average.end.one)}`,
  );
  for (const [name, b] of Object.entries(result.backends)) {
    out(`\n== ${name}: ${b.status}`);
    if (b.status !== 'ok') continue;
    const rows = [];
    for (const op of OPS) {
      for (const c of result.settings.concurrency) {
        for (const target of [b.kleidi, ...(b.ab ?? []), b.baseline, ...(b.references ?? [])]) {
          const x = b.summary[target]?.[op]?.[c];
          if (!x) continue;
          rows.push([
            target,
            op,
            c,
            fmt(x.throughput_per_s, 0),
            fmt(x.p50_ms),
            fmt(x.p99_ms),
            fmt(x.p999_ms),
            fmt(x.cpu_us_per_op, 0),
            fmt(x.loop_p99_ms),
            x.errors,
          ]);
        }
        const r = b.ratios[op]?.[c];
        if (r)
          rows.push([
            `  kleidi ÷ ${b.baseline}`,
            op,
            c,
            `${fmt(r.throughput)}×`,
            '',
            `${fmt(r.p99)}×`,
            '',
            `${fmt(r.cpu_per_op)}×`,
            '',
            '',
          ]);
        for (const [name, byOp] of Object.entries({ ...(b.reference_ratios ?? {}), ...(b.ab_ratios ?? {}) })) {
          const a = byOp[op]?.[c];
          if (a)
            rows.push([
              `  kleidi ÷ ${name}`,
              op,
              c,
              `${fmt(a.throughput)}×`,
              '',
              `${fmt(a.p99)}×`,
              '',
              `${fmt(a.cpu_per_op)}×`,
              '',
              '',
            ]);
        }
      }
    }
    out(
      table(
        ['target', 'op', 'callers', 'ops/s', 'p50 ms', 'p99 ms', 'p999 ms', 'CPU µs/op', 'loop p99 ms', 'errors'],
        rows,
      ),
    );
    const st = b.startup ?? {};
    out(
      `start to ready (median): ${
        Object.entries(st)
          .map(([k, v]) => `${k} ${fmt(v.median_ms, 0)} ms`)
          .join(', ') || '–'
      }`,
    );
    const storm = b.storm ?? {};
    for (const [k, v] of Object.entries(storm)) {
      out(
        `storm ${k}: fresh process ${fmt(v.cold?.wall_ms, 0)} ms (p99 ${fmt(v.cold?.latency_ms?.p99)} ms, errors ${v.cold?.errors ?? '–'}), warm ${fmt(v.warm?.wall_ms, 0)} ms (loop p99 ${fmt(v.warm?.loop_p99_ms)} ms)`,
      );
    }
    out(
      `peak RSS: ${Object.entries(b.peak_rss_bytes ?? {})
        .map(([k, v]) => `${k} ${mb(v)}`)
        .join(', ')}`,
    );
  }
  out('\nGoals (docs/benchmarks.md; reported, not asserted):');
  out(
    table(
      ['measure', 'goal', 'met', 'measured'],
      result.goals.map((g) => [g.measure, g.goal, g.met === undefined ? '–' : g.met ? 'yes' : 'NO', g.measured]),
      4,
    ),
  );
}

/** The generated part of docs/benchmarks.md. */
export function markdown(result) {
  const m = result.machine;
  const v = result.versions;
  const L = [];
  L.push(
    `Generated by \`npm run bench\` (${result.kind} run) on ${result.finished_at.slice(0, 10)}; raw figures in \`.cache/bench/${result.kind}.json\` (not committed).`,
  );
  L.push('');
  L.push('### Machine and versions');
  L.push('');
  L.push('| | |');
  L.push('|---|---|');
  L.push(`| CPUs | ${m.nproc} × ${m.cpu} |`);
  L.push(`| memory | ${mb(m.memory_bytes)} |`);
  L.push(`| kernel | ${m.kernel} |`);
  L.push(
    `| load average (1 min) | ${fmt(result.load_average.start.one)} at the start, ${fmt(result.load_average.end.one)} at the end, ${fmt(result.load_average.median_cell)} median over the runs (other engineers' builds and tests share the machine) |`,
  );
  for (const [k, val] of Object.entries(v)) L.push(`| ${k} | ${val} |`);
  L.push(
    `| settings | ${result.settings.duration_ms / 1000} s per run, ${result.settings.reps} interleaved repetitions (medians), ${result.settings.concurrency.join('/')} callers, ${result.settings.warmup_ms / 1000} s warm-up per server |`,
  );
  L.push('');
  L.push('### Goals');
  L.push('');
  L.push('| Measure | Goal | Met | Measured |');
  L.push('|---|---|---|---|');
  for (const g of result.goals)
    L.push(`| ${g.measure} | ${g.goal} | ${g.met === undefined ? '–' : g.met ? 'yes' : '**no**'} | ${g.measured} |`);
  for (const [name, b] of Object.entries(result.backends)) {
    L.push('');
    L.push(`### Backend \`${name}\`${b.status === 'ok' ? ` (baseline: ${b.baseline})` : ''}`);
    L.push('');
    if (b.status !== 'ok') {
      L.push(`Not measured: ${b.status}.`);
      continue;
    }
    // Drawn from the table below by tools/bench-charts.ts (the same file names).
    L.push(
      `![Throughput of each target by concurrent callers, backend ${name}](img/bench-${name}-throughput.svg)`,
      `![Latency percentiles of each target, backend ${name}](img/bench-${name}-latency.svg)`,
    );
    L.push('');
    L.push('| target | op | callers | ops/s | p50 ms | p99 ms | p999 ms | server CPU µs/op | event-loop p99 ms |');
    L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const op of OPS) {
      for (const c of result.settings.concurrency) {
        for (const target of [b.kleidi, ...(b.ab ?? []), b.baseline, ...(b.references ?? [])]) {
          const x = b.summary[target]?.[op]?.[c];
          if (!x) continue;
          L.push(
            `| ${target} | ${op} | ${c} | ${fmt(x.throughput_per_s, 0)} | ${fmt(x.p50_ms)} | ${fmt(x.p99_ms)} | ${fmt(x.p999_ms)} | ${fmt(x.cpu_us_per_op, 0)} | ${fmt(x.loop_p99_ms)} |${x.errors ? ` ${x.errors} errors` : ''}`,
          );
        }
        const r = b.ratios[op]?.[c];
        if (r)
          L.push(
            `| *kleidi ÷ ${b.baseline}* | ${op} | ${c} | *${fmt(r.throughput)}×* | | *${fmt(r.p99)}×* | | *${fmt(r.cpu_per_op)}×* | |`,
          );
        for (const [name, byOp] of Object.entries({ ...(b.reference_ratios ?? {}), ...(b.ab_ratios ?? {}) })) {
          const a = byOp[op]?.[c];
          if (a)
            L.push(
              `| *kleidi ÷ ${name}* | ${op} | ${c} | *${fmt(a.throughput)}×* | | *${fmt(a.p99)}×* | | *${fmt(a.cpu_per_op)}×* | |`,
            );
        }
      }
    }
    L.push('');
    const st = Object.entries(b.startup ?? {});
    if (st.length)
      L.push(
        `Start to first healthy Status (median of ${st[0][1].repeat}): ${st.map(([k, x]) => `${k} ${fmt(x.median_ms, 0)} ms (socket at ${fmt(median(x.socket_ms), 0)} ms)`).join(', ')}.`,
      );
    for (const [k, x] of Object.entries(b.storm ?? {})) {
      L.push('');
      const samples = (r) =>
        r?.wall_ms_samples?.length > 1 ? `; runs ${r.wall_ms_samples.map((w) => fmt(w, 0)).join(', ')} ms` : '';
      const errs = (r) => ((r?.errors_total ?? r?.errors) ? `, ${r.errors_total ?? r.errors} failed calls` : '');
      L.push(
        `Storm (${x.cold?.seeds ?? x.warm?.seeds} distinct seeds, all at once, median of ${x.cold?.wall_ms_samples?.length ?? 1}) on ${k}: fresh process ${fmt(x.cold?.wall_ms, 0)} ms (p99 ${fmt(x.cold?.latency_ms?.p99)} ms${errs(x.cold)}${samples(x.cold)}), warm process ${fmt(x.warm?.wall_ms, 0)} ms (p99 ${fmt(x.warm?.latency_ms?.p99)} ms${x.warm?.loop_p99_ms !== undefined ? `, event-loop p99 ${fmt(x.warm.loop_p99_ms)} ms` : ''}${errs(x.warm)}${samples(x.warm)}).`,
      );
    }
    L.push('');
    L.push(
      `Peak RSS (VmHWM): ${Object.entries(b.peak_rss_bytes ?? {})
        .map(([k, x]) => `${k} ${mb(x)}`)
        .join(', ')}.`,
    );
  }
  return L.join('\n');
}
