import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';

/** Bench-only: holds every packet of NFQUEUE <queue> for <ms> before accepting it (a fixed one-way delay). */
const DELAY_C = String.raw`#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#define MAXQ 65536
static uint32_t ids[MAXQ];
static double due[MAXQ];
static unsigned head, tail;
static double delay_s;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int cb(struct nfq_q_handle *qh, struct nfgenmsg *m, struct nfq_data *nfa, void *data) {
  (void)m; (void)data;
  uint32_t id = ntohl(nfq_get_msg_packet_hdr(nfa)->packet_id);
  if (tail - head >= MAXQ) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  ids[tail % MAXQ] = id; due[tail % MAXQ] = now() + delay_s; tail++;
  return 0;
}
int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: delay <ms> [queue]\n"); return 2; }
  delay_s = atof(argv[1]) / 1000.0;
  struct nfq_handle *h = nfq_open();
  if (!h) { perror("nfq_open"); return 1; }
  nfq_unbind_pf(h, AF_INET); nfq_bind_pf(h, AF_INET);
  struct nfq_q_handle *qh = nfq_create_queue(h, argc > 2 ? atoi(argv[2]) : 0, &cb, NULL);
  if (!qh) { perror("nfq_create_queue"); return 1; }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) nfq_set_mode(qh, NFQNL_COPY_PACKET, 64);
  nfq_set_queue_maxlen(qh, MAXQ);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 64 * 1024 * 1024);
  int fd = nfq_fd(h);
  static char buf[262144] __attribute__((aligned));
  printf("ready\n"); fflush(stdout);
  for (;;) {
    double t = now();
    while (head != tail && due[head % MAXQ] <= t) { nfq_set_verdict(qh, ids[head % MAXQ], NF_ACCEPT, 0, NULL); head++; }
    struct timespec ts, *tp = NULL;
    if (head != tail) { double w = due[head % MAXQ] - t; if (w < 0) w = 0; ts.tv_sec = (time_t)w; ts.tv_nsec = (long)((w - ts.tv_sec) * 1e9); tp = &ts; }
    struct pollfd p = {fd, POLLIN, 0};
    if (ppoll(&p, 1, tp, NULL) > 0) { int n; while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) nfq_handle_packet(h, buf, n); }
  }
}
`;

export interface Link {
  netns: string;
  /** argv prefix that runs a command inside the namespace */
  inNs: string[];
  stop: () => Promise<void>;
}

/** A network namespace whose loopback has 20 ms each way (NFQUEUE + the delay program) and a 1 Gbit tbf. */
export async function startLink(dir: string): Promise<Link> {
  if (process.getuid?.() !== 0) throw new Error('the 40 ms link cases (7, 8) need root (ip netns, tc, iptables)');
  const netns = `mmbench-${process.pid}`;
  const inNs = ['ip', 'netns', 'exec', netns];
  const src = path.join(dir, 'delay.c');
  const bin = path.join(dir, 'delay');
  await fsp.writeFile(src, DELAY_C);
  await $`gcc -O2 -o ${bin} ${src} -lnetfilter_queue -lnfnetlink`;
  await $`ip netns add ${netns}`;
  let delay: ChildProcess | undefined;
  const stop = async () => {
    if (delay && delay.exitCode === null) {
      const gone = new Promise((r) => delay!.once('exit', r));
      delay.kill('SIGTERM');
      await gone;
    }
    await $({ nothrow: true })`ip netns del ${netns}`;
  };
  try {
    await $`${inNs} ip link set lo up`;
    await $`${inNs} tc qdisc add dev lo root tbf rate 1gbit burst 4mb latency 100ms`;
    await $`${inNs} iptables-legacy -t mangle -A OUTPUT -p tcp -j NFQUEUE --queue-num 0 --queue-bypass`;
    delay = spawn(inNs[0]!, [...inNs.slice(1), bin, '20', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const d = delay;
    await new Promise<void>((resolve, reject) => {
      d.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      d.once('exit', (code) => reject(new Error(`the delay program exited (${code})`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { netns, inNs, stop };
}
