/*
 * The C side of bench/profile/socket-write-floor.ts: the least CPU a socket write and a socket
 * read of one SSE message can cost on this machine, with no runtime around the system calls.
 *
 *   socket-write-floor read <port> <connections> <bytes>   connect, drain with epoll until <bytes>
 *                                                          arrived in all, print {"cpuUs":..,"reads":..}
 *   socket-write-floor write <port> <rounds> <size> <gapUs> accept on 127.0.0.1:<port> until the
 *                                                          reader's connections are in (the first
 *                                                          line of stdin names how many), then
 *                                                          <rounds> x one write(2) of <size> bytes
 *                                                          to each, <gapUs> apart; print {"cpuUs":..}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

static int reader(int port, int connections, long long total) {
  int ep = epoll_create1(0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  for (int i = 0; i < connections; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return perror("connect"), 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  double start = cpu_us();
  long long got = 0, reads = 0;
  static char buf[65536];
  struct epoll_event events[256];
  while (got < total) {
    int n = epoll_wait(ep, events, 256, 10000);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      ssize_t r = read(events[i].data.fd, buf, sizeof buf);
      if (r > 0) got += r, reads++;
    }
  }
  printf("{\"cpuUs\":%.0f,\"reads\":%lld,\"bytes\":%lld}\n", cpu_us() - start, reads, got);
  return got < total;
}

static int writer(int port, int rounds, int size, int gap_us) {
  int connections;
  if (scanf("%d", &connections) != 1) return 1;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4096) != 0) return perror("listen"), 1;
  printf("{\"type\":\"listening\"}\n");
  fflush(stdout);
  int *fds = malloc(sizeof(int) * connections);
  for (int i = 0; i < connections; i++) {
    fds[i] = accept(ls, 0, 0);
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  char *message = malloc(size);
  memset(message, 'x', size);
  double start = cpu_us();
  for (int k = 0; k < rounds; k++) {
    for (int i = 0; i < connections; i++) {
      if (write(fds[i], message, size) != size) return perror("write"), 1;
    }
    usleep(gap_us);
  }
  printf("{\"cpuUs\":%.0f}\n", cpu_us() - start);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "read") == 0) return reader(atoi(argv[2]), atoi(argv[3]), atoll(argv[4]));
  if (argc == 6 && strcmp(argv[1], "write") == 0) return writer(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  fprintf(stderr, "usage: see the comment at the top of socket-write-floor.c\n");
  return 2;
}
