/*
 * The load process's reading clients in C (bench/load/sse-clients.ts runs it as a group when a C
 * compiler is there; bench/load/sse-clients-group.ts is the same group in Node). A load
 * generator must not be the bottleneck it measures, and on two cores shared with the server, its
 * SSE writer and the simulator, every microsecond it spends per message is taken from them: the
 * Node group costs ~10 µs of CPU per message received, mostly Node's per-read machinery.
 *
 *   sse-reader <host> <port> <after> <clients> <timeoutMs>
 *
 * Opens <clients> connections to GET /api/sync/stream?after=<after> (HTTP/1.1, as an EventSource
 * asks), reads them with epoll, undoes the chunk framing and scans each SSE message for its
 * `id:`, its `event:` name and (once per position, for the first client that gets it) the
 * `"recordedAt":"..."` of its data. Checks per client that positions arrive consecutively from
 * after+1; a client is done at its terminal job event (JobCompleted, JobFailed, JobStopped) or
 * when the server closes. Prints one JSON line `{"type":"ready","clients":N}` once every
 * response head is in, then the group report (GroupReport in sse-clients-group.ts) as the last
 * line. The receipt time is the wall clock (ms) when the read holding the message returned.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MS 60000
#define LINE_MAX_START 4096

enum chunk_state { CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END };

typedef struct {
  int fd;
  long next;      /* the position expected next */
  long count;     /* events received */
  long until;     /* the terminal event's position, -1 until then */
  int gap;
  int done;
  /* chunk framing */
  enum chunk_state cs;
  long chunk_left;
  /* the SSE line being read, and the message's fields so far */
  char *line;
  size_t line_len, line_cap;
  long id;
  char event[64];
  int chunked; /* the body is in HTTP/1.1 chunks (else as is, to the end of the connection) */
} client_t;

static long after_pos;
static long n_clients;
static client_t *clients;
static long finished;
static int64_t now_ms;

static uint32_t h_all[MAX_MS + 1], h_batch[MAX_MS + 1], h_other[MAX_MS + 1];
static int64_t *first_seen, *last_seen, *stamps; /* per position index; -1 = none */
static long seen_cap;
static long long bytes_total, messages;

static void die(const char *what) {
  fprintf(stderr, "sse-reader: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hist_add(uint32_t *h, int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms > MAX_MS) ms = MAX_MS;
  h[ms]++;
}

static void grow_seen(long index) {
  if (index < seen_cap) return;
  long cap = seen_cap == 0 ? 1024 : seen_cap;
  while (cap <= index) cap *= 2;
  first_seen = realloc(first_seen, cap * sizeof(int64_t));
  last_seen = realloc(last_seen, cap * sizeof(int64_t));
  stamps = realloc(stamps, cap * sizeof(int64_t));
  if (!first_seen || !last_seen || !stamps) die("realloc");
  for (long i = seen_cap; i < cap; i++) first_seen[i] = last_seen[i] = stamps[i] = -1;
  seen_cap = cap;
}

/* "2026-12-02T04:57:12.123Z" -> ms since the epoch, or -1. */
static int64_t parse_iso(const char *s, size_t n) {
  if (n < 20) return -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ms = 0;
  if (s[19] == '.') {
    int digits = 0;
    for (size_t i = 20; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      if (digits < 3) ms = ms * 10 + (s[i] - '0');
      digits++;
    }
    while (digits < 3) {
      ms *= 10;
      digits++;
    }
  }
  return (int64_t)timegm(&tm) * 1000 + ms;
}

static int is_terminal(const char *e) {
  return strcmp(e, "JobCompleted") == 0 || strcmp(e, "JobFailed") == 0 || strcmp(e, "JobStopped") == 0;
}

static void finish(client_t *c) {
  if (c->done) return;
  c->done = 1;
  finished++;
  close(c->fd);
}

/* A whole message (its fields gathered): the group's bookkeeping, as sse-clients-group.ts. */
static void on_message(client_t *c) {
  if (c->id < 0 || c->done) return;
  long id = c->id;
  if (id != c->next) c->gap = 1;
  c->next = id + 1;
  c->count++;
  messages++;
  long i = id - after_pos - 1;
  if (i >= 0) {
    grow_seen(i);
    if (first_seen[i] < 0 || now_ms < first_seen[i]) first_seen[i] = now_ms;
    if (last_seen[i] < 0 || now_ms > last_seen[i]) last_seen[i] = now_ms;
    if (stamps[i] >= 0) {
      int64_t delay = now_ms - stamps[i];
      hist_add(h_all, delay);
      hist_add(strcmp(c->event, "BatchCommitted") == 0 ? h_batch : h_other, delay);
    }
  }
  if (is_terminal(c->event)) {
    c->until = id;
    finish(c);
  }
}

static const char RECORDED_AT[] = "\"recordedAt\":\"";

/* One SSE line (without its LF). */
static void on_line(client_t *c, const char *l, size_t n) {
  if (n > 0 && l[n - 1] == '\r') n--;
  if (n == 0) {
    on_message(c);
    c->id = -1;
    c->event[0] = 0;
    return;
  }
  if (l[0] == ':') return;
  if (n > 4 && memcmp(l, "id: ", 4) == 0) {
    c->id = strtol(l + 4, NULL, 10);
  } else if (n > 7 && memcmp(l, "event: ", 7) == 0) {
    size_t k = n - 7 < sizeof c->event - 1 ? n - 7 : sizeof c->event - 1;
    memcpy(c->event, l + 7, k);
    c->event[k] = 0;
  } else if (n > 6 && memcmp(l, "data: ", 6) == 0 && c->id >= 0) {
    /* The event's stamp, read by the first client that gets its position. */
    long i = c->id - after_pos - 1;
    if (i >= 0) {
      grow_seen(i);
      if (stamps[i] < 0) {
        const char *p = memmem(l, n, RECORDED_AT, sizeof RECORDED_AT - 1);
        if (p) {
          p += sizeof RECORDED_AT - 1;
          stamps[i] = parse_iso(p, (size_t)(l + n - p));
        }
      }
    }
  }
}

/* Body bytes after the chunk framing: split into lines. */
static void on_body(client_t *c, const char *b, size_t n) {
  while (n > 0 && !c->done) {
    const char *lf = memchr(b, '\n', n);
    size_t take = lf ? (size_t)(lf - b) : n;
    if (c->line_len == 0 && lf) {
      on_line(c, b, take); /* the common case: the whole line is in this read */
    } else {
      if (c->line_len + take > c->line_cap) {
        while (c->line_len + take > c->line_cap) c->line_cap *= 2;
        c->line = realloc(c->line, c->line_cap);
        if (!c->line) die("realloc");
      }
      memcpy(c->line + c->line_len, b, take);
      c->line_len += take;
      if (lf) {
        on_line(c, c->line, c->line_len);
        c->line_len = 0;
      }
    }
    if (!lf) return;
    b += take + 1;
    n -= take + 1;
  }
}

/* Raw bytes of the response body. */
static void on_bytes(client_t *c, const char *b, size_t n) {
  if (!c->chunked) {
    on_body(c, b, n);
    return;
  }
  size_t at = 0;
  while (at < n && !c->done) {
    char ch = b[at];
    switch (c->cs) {
      case CH_SIZE:
        if (ch >= '0' && ch <= '9') c->chunk_left = c->chunk_left * 16 + (ch - '0');
        else if (ch >= 'a' && ch <= 'f') c->chunk_left = c->chunk_left * 16 + (ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') c->chunk_left = c->chunk_left * 16 + (ch - 'A' + 10);
        else if (ch == '\n') c->cs = c->chunk_left == 0 ? CH_END : CH_DATA;
        else c->cs = CH_SIZE_LF; /* CR or an extension: skip to the LF */
        at++;
        break;
      case CH_SIZE_LF:
        if (ch == '\n') c->cs = c->chunk_left == 0 ? CH_END : CH_DATA;
        at++;
        break;
      case CH_DATA: {
        size_t take = n - at < (size_t)c->chunk_left ? n - at : (size_t)c->chunk_left;
        on_body(c, b + at, take);
        at += take;
        c->chunk_left -= (long)take;
        if (c->chunk_left == 0) c->cs = CH_DATA_CR;
        break;
      }
      case CH_DATA_CR:
        c->cs = ch == '\r' ? CH_DATA_LF : CH_SIZE;
        if (ch == '\r') at++;
        break;
      case CH_DATA_LF:
        c->cs = CH_SIZE;
        c->chunk_left = 0;
        if (ch == '\n') at++;
        break;
      case CH_END:
        return;
    }
  }
}

static int open_client(const char *host, const char *port, long after) {
  struct addrinfo hints = {0}, *res;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0) die("getaddrinfo");
  int fd = socket(res->ai_family, res->ai_socktype, 0);
  if (fd < 0) die("socket");
  for (int attempt = 0;; attempt++) {
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) break;
    if (attempt >= 50) die("connect");
    usleep(20000);
  }
  freeaddrinfo(res);
  char req[512];
  int len = snprintf(req, sizeof req,
    "GET /api/sync/stream?after=%ld HTTP/1.1\r\nHost: %s:%s\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
    after, host, port);
  if (write(fd, req, len) != len) die("write");
  return fd;
}

/* Reads the response head (blocking); hands what follows it to the client's parser. */
static void read_head(client_t *c) {
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(c->fd, buf + have, sizeof buf - have);
    if (r <= 0) die("read head");
    have += (size_t)r;
    char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (end) {
      if (have < 12 || memcmp(buf + 9, "200", 3) != 0) {
        fprintf(stderr, "sse-reader: unexpected response: %.*s\n", (int)(have < 200 ? have : 200), buf);
        exit(1);
      }
      size_t body = (size_t)(end + 4 - buf);
      c->chunked = memmem(buf, body, "chunked", 7) != NULL;
      now_ms = wall_ms();
      bytes_total += (long long)(have - body);
      if (have > body) on_bytes(c, end + 4, have - body);
      return;
    }
    if (have == sizeof buf) die("head too long");
  }
}

static void print_hist(const char *name, const uint32_t *h) {
  printf("\"%s\":[", name);
  int first = 1;
  for (int i = 0; i <= MAX_MS; i++) {
    if (h[i] == 0) continue;
    printf("%s[%d,%u]", first ? "" : ",", i, h[i]);
    first = 0;
  }
  printf("]");
}

static void print_seen(const char *name, const int64_t *v, long count) {
  printf("\"%s\":[", name);
  for (long i = 0; i < count; i++) {
    if (v[i] < 0) printf("%snull", i ? "," : "");
    else printf("%s%lld", i ? "," : "", (long long)v[i]);
  }
  printf("]");
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: sse-reader <host> <port> <after> <clients> <timeoutMs>\n");
    return 2;
  }
  const char *host = argv[1], *port = argv[2];
  after_pos = strtol(argv[3], NULL, 10);
  n_clients = strtol(argv[4], NULL, 10);
  long timeout_ms = strtol(argv[5], NULL, 10);
  clients = calloc(n_clients > 0 ? n_clients : 1, sizeof(client_t));
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (long i = 0; i < n_clients; i++) {
    client_t *c = &clients[i];
    c->next = after_pos + 1;
    c->until = -1;
    c->id = -1;
    c->line_cap = LINE_MAX_START;
    c->line = malloc(c->line_cap);
    c->fd = open_client(host, port, after_pos);
    read_head(c);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
  }
  printf("{\"type\":\"ready\",\"clients\":%ld}\n", n_clients);
  fflush(stdout);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  int64_t deadline = wall_ms() + timeout_ms;
  int timed_out = 0;
  static char buf[1 << 16];
  struct epoll_event events[256];
  while (finished < n_clients) {
    int64_t left = deadline - wall_ms();
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    int n = epoll_wait(ep, events, 256, left > 1000 ? 1000 : (int)left);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      client_t *c = &clients[events[k].data.u64];
      while (!c->done) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          now_ms = wall_ms();
          bytes_total += r;
          on_bytes(c, buf, (size_t)r);
          if (c->cs == CH_END) finish(c);
          /* A short read emptied the socket: no second read() to hear EAGAIN (epoll is
             level-triggered, so anything that arrives meanwhile is reported again). */
          if ((size_t)r < sizeof buf) break;
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r < 0 && errno == EINTR) continue;
        finish(c); /* closed (or failed) before its terminal event: done, without `until` */
      }
    }
  }
  getrusage(RUSAGE_SELF, &r1);
  long done = 0, gaps = 0, min_events = -1, max_events = 0;
  for (long i = 0; i < n_clients; i++) {
    client_t *c = &clients[i];
    if (c->until >= 0) done++;
    if (c->gap) gaps++;
    if (min_events < 0 || c->count < min_events) min_events = c->count;
    if (c->count > max_events) max_events = c->count;
    if (!c->done) close(c->fd);
  }
  if (min_events < 0) min_events = 0;
  /* The distinct terminal positions (one when all agree); null for a client that had none. */
  printf("{\"type\":\"report\",\"clients\":%ld,\"done\":%ld,\"timedOut\":%s,\"untils\":[", n_clients, done, timed_out ? "true" : "false");
  int printed = 0;
  for (long i = 0; i < n_clients; i++) {
    long u = clients[i].until;
    int dup = 0;
    for (long j = 0; j < i && !dup; j++) dup = clients[j].until == u;
    if (dup) continue;
    if (u < 0) printf("%snull", printed ? "," : "");
    else printf("%s%ld", printed ? "," : "", u);
    printed = 1;
  }
  printf("],\"minEvents\":%ld,\"maxEvents\":%ld,\"clientsWithGaps\":%ld,\"bytes\":%lld,\"messages\":%lld,",
    min_events, max_events, gaps, bytes_total, messages);
  print_hist("delay", h_all);
  printf(",");
  print_hist("delayBatch", h_batch);
  printf(",");
  print_hist("delayOther", h_other);
  long count = 0;
  for (long i = 0; i < seen_cap; i++) if (first_seen[i] >= 0) count = i + 1;
  printf(",");
  print_seen("firstSeen", first_seen, count);
  printf(",");
  print_seen("lastSeen", last_seen, count);
  long user = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000L + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec);
  long sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000L + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
  printf(",\"cpu\":{\"user\":%ld,\"system\":%ld}}\n", user, sys);
  fflush(stdout);
  return 0;
}
