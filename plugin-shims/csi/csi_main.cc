/*
 * csi_main.cc - cstorfs-csi: the command line, the unix socket, the gRPC
 * server with the Identity, Controller and Node services, and a clean stop
 * on SIGTERM or SIGINT (the socket is removed).
 *
 *   cstorfs-csi [--endpoint unix:///csi/csi.sock] [--node-id ID] [--store DIR]
 *
 * The endpoint defaults to $CSI_ENDPOINT (the spec's variable), the node
 * id to $CSI_NODE_ID, else the host name; the store to --store, else
 * $CSTORFS_STORE, else the client library's default (/var/lib/cstorfs
 * for root). Exit codes: 0 stopped by a signal, 1 cannot serve, 2 usage.
 */
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi.h"

#ifndef CSI_VERSION
#define CSI_VERSION "unknown"
#endif

namespace
{

const char usage_text[] =
    "usage: cstorfs-csi [--endpoint unix:///PATH] [--node-id ID] [--store DIR]\n"
    "  --endpoint  the unix socket to serve CSI on (default $CSI_ENDPOINT,\n"
    "              else unix:///csi/csi.sock)\n"
    "  --node-id   this node's id and topology segment (default $CSI_NODE_ID,\n"
    "              else the host name)\n"
    "  --store     the cstorfs store directory (default $CSTORFS_STORE, else\n"
    "              /var/lib/cstorfs as root)\n"
    "  --version   print the version\n";

int usage_error(const char *what)
{
	fprintf(stderr, "cstorfs-csi: %s\n%s", what, usage_text);
	return 2;
}

const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* The socket path of @endpoint: "unix:///abs" or "unix:/abs"; "" if not. */
std::string socket_path(const std::string &endpoint)
{
	std::string p;

	if (endpoint.rfind("unix://", 0) == 0)
		p = endpoint.substr(7);
	else if (endpoint.rfind("unix:", 0) == 0)
		p = endpoint.substr(5);
	return p.size() > 1 && p[0] == '/' ? p : "";
}

int parse_args(int argc, char **argv, std::string *endpoint, std::string *store)
{
	char host[256] = "";

	*endpoint = env_or("CSI_ENDPOINT", "unix:///csi/csi.sock");
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	csi_config.node_id = env_or("CSI_NODE_ID", host);
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--version") {
			printf("cstorfs-csi %s\n", CSI_VERSION);
			exit(0);
		}
		if (a == "--help" || a == "-h") {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (i + 1 >= argc)
			return usage_error(("unknown argument or missing value: " + a).c_str());
		if (a == "--endpoint")
			*endpoint = argv[++i];
		else if (a == "--node-id")
			csi_config.node_id = argv[++i];
		else if (a == "--store")
			*store = argv[++i];
		else
			return usage_error(("unknown argument: " + a).c_str());
	}
	if (csi_config.node_id.empty() || csi_config.node_id.size() > 128)
		return usage_error("the node id must be 1 to 128 bytes");
	return 0;
}

/* Remove a stale socket at @path; refuse to remove anything else. */
int clear_socket(const std::string &path)
{
	struct stat st;

	if (lstat(path.c_str(), &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	return unlink(path.c_str()) < 0 ? -errno : 0;
}

} /* namespace */

int main(int argc, char **argv)
{
	std::string endpoint, store, path;
	csi_identity identity;
	csi_controller controller;
	csi_node node;
	sigset_t stop;
	int sig = 0, err;

	if ((err = parse_args(argc, argv, &endpoint, &store)))
		return err;
	if ((path = socket_path(endpoint)).empty())
		return usage_error(("the endpoint '" + endpoint +
				    "' is not unix:///ABSOLUTE/PATH (CSI serves on unix sockets)")
				       .c_str());
	char *dir = cs_client_store_dir(store.empty() ? nullptr : store.c_str());
	if (!dir) {
		fprintf(stderr, "cstorfs-csi: cannot find the store directory: %s\n", strerror(errno));
		return 1;
	}
	csi_config.store = dir;
	free(dir);
	csi_config.version = CSI_VERSION;
	if ((err = clear_socket(path))) {
		fprintf(stderr, "cstorfs-csi: %s is in the way of the socket: %s\n", path.c_str(),
			strerror(-err));
		return 1;
	}
	/* Signals go to this thread's sigwait, not to gRPC's threads. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, nullptr);
	signal(SIGPIPE, SIG_IGN);

	grpc::ServerBuilder builder;
	builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
	builder.RegisterService(&identity);
	builder.RegisterService(&controller);
	builder.RegisterService(&node);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server) {
		fprintf(stderr, "cstorfs-csi: cannot serve on %s (does its directory exist?)\n",
			path.c_str());
		return 1;
	}
	csi_log("serving %s on %s for store %s, node %s", CSI_PLUGIN_NAME, path.c_str(),
		csi_config.store.c_str(), csi_config.node_id.c_str());
	sigwait(&stop, &sig);
	csi_log("signal %d: stopping", sig);
	server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
	unlink(path.c_str());
	return 0;
}
