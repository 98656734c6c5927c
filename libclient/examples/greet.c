/* greet.c — the libkith example from the README.
 *
 * One process plays both sides: a server workload that listens through the
 * daemon, and a client workload that connects to it by pattern. The server
 * learns who called from the daemon (never from the client) and greets it.
 *
 *   cc greet.c $(pkg-config --cflags --libs kith) -o greet && ./greet
 */
#include <kith.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(kith_client* c, const char* what) {
  fprintf(stderr, "greet: %s: %s: %s\n", what, kith_error_code(c), kith_error_message(c));
  return 1;
}

int main(void) {
  kith_client *server, *client;
  char err[256];
  if (kith_open_ex(NULL, &server, err, sizeof err) != KITH_OK ||
      kith_open_ex(NULL, &client, err, sizeof err) != KITH_OK) {
    fprintf(stderr, "greet: cannot reach kithd: %s\n", err);
    return 1;
  }

  /* The server admits any workload of the `dev` scope. */
  const char* allow[] = {"dev.*.*.*.*"};
  kith_register_options so = {0};
  so.name = "dev.greet.server.default";
  so.whitelist = allow;
  so.whitelist_len = 1;
  kith_registration sreg;
  if (kith_register(server, &so, &sreg) != KITH_OK) return fail(server, "register server");
  if (kith_listen(server) != KITH_OK) return fail(server, "listen");

  kith_register_options co = {0};
  co.name = "dev.greet.client.default";
  kith_registration creg;
  if (kith_register(client, &co, &creg) != KITH_OK) return fail(client, "register client");

  /* Connect by pattern: the daemon picks the instance and checks policy. */
  kith_connection conn;
  if (kith_connect(client, "dev.greet.server.*.*", NULL, &conn) != KITH_OK) return fail(client, "connect");

  kith_incoming in;
  if (kith_accept(server, 5000, &in) != KITH_OK) return fail(server, "accept");
  char line[512];
  int n = snprintf(line, sizeof line, "hello %s (%s)\n", in.source, in.spiffe_id);
  if (write(in.fd, line, (size_t)n) != n) return 1;
  close(in.fd);

  ssize_t got = read(conn.fd, line, sizeof line - 1);
  if (got <= 0) return 1;
  line[got] = '\0';
  fputs(line, stdout);
  close(conn.fd);

  kith_deregister(client);
  kith_deregister(server);
  kith_close(client);
  kith_close(server);
  return 0;
}
