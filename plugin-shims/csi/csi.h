/*
 * csi.h - what the files of cstorfs-csi share: its configuration, the three
 * gRPC services, and the small helpers each call uses (a control-API client
 * per call, errno to gRPC status, volume capabilities, page tokens).
 *
 * cstorfs-csi is a thin adapter: every CSI call becomes one or a few
 * requests to the store's daemon through the client library (ctl/), which
 * does the work. The plugin keeps no state of its own: what it must
 * remember about a volume (the parameters it was created with, its content
 * source) is stored with the volume as properties ("csi.request",
 * "csi.source"), so any instance on the node answers the same.
 *
 *   csi_main.cc        command line, the socket, the server, signals
 *   csi_util.cc        the helpers declared below
 *   csi_identity.cc    Identity: plugin info, capabilities, probe
 *   csi_controller.cc  Controller: volumes, capacity, expansion
 *   csi_snapshots.cc   Controller: snapshots
 *   csi_node.cc        Node: publish, unpublish, stats, info, expansion
 *
 * Ids: a volume id is the cstorfs volume name; a snapshot id is
 * "VOLUME@SNAPSHOT". CSI names are used as cstorfs names (checked as the
 * daemon checks them; '@' refused so snapshot ids stay unambiguous).
 */
#ifndef CSI_H
#define CSI_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "csi.grpc.pb.h"

#include "cs_client.h"
#include "cs_client_csi.h"

/* The generated CSI types (package csi.v1). */
namespace pb = csi::v1;

#define CSI_PLUGIN_NAME "cstorfs.csi"
#define CSI_TOPOLOGY_KEY "topology.cstorfs.csi/node"
#define CSI_PROP_REQUEST "csi.request"  /* the CreateVolume parameters */
#define CSI_PROP_SOURCE "csi.source"	/* "snapshot:V@S" or "volume:V" */
#define CSI_CLONE_PREFIX "csi-clone-"	/* snapshot made to clone a volume */
#define CSI_FSGROUP_MODE 02775

/* The plugin's configuration, set once by main before the server starts. */
struct csi_conf {
	std::string store;   /* absolute store directory */
	std::string node_id; /* NodeGetInfo's node id and topology segment */
	std::string version; /* GetPluginInfo's vendor_version */
};
extern csi_conf csi_config;

/* Calls that change volumes or mounts run one at a time (the CO sends at
 * most one call per volume, but several volumes at once; the daemon does
 * its own locking, this keeps check-then-act sequences whole). */
extern std::mutex csi_ops;

/* Log one line on stderr: "cstorfs-csi: ...". */
void csi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- */
/* The control-API client, one per call                             */
/* ---------------------------------------------------------------- */

struct csi_json_free {
	void operator()(cJSON *j) const { cJSON_Delete(j); }
};
using csi_json = std::unique_ptr<cJSON, csi_json_free>;

class csi_client
{
public:
	csi_client() = default;
	~csi_client() { cs_client_free(c_); }
	csi_client(const csi_client &) = delete;
	csi_client &operator=(const csi_client &) = delete;

	/* Make the client (once); with @start, a daemon that does not answer
	 * is started (cs_client_ensure_daemon). UNAVAILABLE when it cannot be. */
	grpc::Status open(bool start);
	struct cs_client *get() { return c_; }
	const char *errmsg() const { return c_ ? cs_client_errmsg(c_) : ""; }

	/* The volume @name: 0, -ENOENT or another client error. */
	int volume(const std::string &name, csi_json *out);

	/* open(true), then volume @name into *@vol: with @exists, OK and
	 * *@exists false when there is none; without, NOT_FOUND then. */
	grpc::Status find(const std::string &name, csi_json *vol, bool *exists = nullptr);

private:
	struct cs_client *c_ = nullptr;
};

/* The status for client error @err (negative errno) while doing @what,
 * with the daemon's message: ENOENT NOT_FOUND, EEXIST ALREADY_EXISTS,
 * EBUSY/ENOTEMPTY FAILED_PRECONDITION, EINVAL/ENAMETOOLONG
 * INVALID_ARGUMENT, ENOSPC/EDQUOT RESOURCE_EXHAUSTED, an unreachable
 * daemon or a timeout UNAVAILABLE, anything else INTERNAL. */
grpc::Status csi_errno(int err, const std::string &what, const csi_client &c);

/* A failure with @code and the message "what: why", logged. */
grpc::Status csi_fail(grpc::StatusCode code, const std::string &msg);

/* ---------------------------------------------------------------- */
/* JSON answers                                                     */
/* ---------------------------------------------------------------- */

std::string csi_jstr(const cJSON *o, const char *key);
uint64_t csi_ju64(const cJSON *o, const char *key);
bool csi_jtrue(const cJSON *o, const char *key);

/* ---------------------------------------------------------------- */
/* Names, capabilities, capacity, topology, pages                   */
/* ---------------------------------------------------------------- */

/* A volume or snapshot name as the daemon takes it, without '@' or
 * control characters; INVALID_ARGUMENT naming @what otherwise. */
grpc::Status csi_check_name(const std::string &name, const char *what);

/* Split snapshot id "VOL@SNAP"; false when it is not one. */
bool csi_split_snapshot_id(const std::string &id, std::string *vol, std::string *snap);

/* Why @cap cannot be served ("" when it can): block access, a file
 * system type other than cstorfs, a multi-node writer mode, no mode. */
std::string csi_cap_problem(const pb::VolumeCapability &cap);

/* True for the access modes a volume may be published with at several
 * target paths at once (MULTI_NODE_READER_ONLY, SINGLE_NODE_MULTI_WRITER). */
bool csi_cap_shared(const pb::VolumeCapability &cap);

/* True for the read-only access modes. */
bool csi_cap_readonly(const pb::VolumeCapability &cap);

/* The quota for @range: required_bytes, else limit_bytes, else 0 (none).
 * INVALID_ARGUMENT for negative values or limit below required. */
grpc::Status csi_range_quota(const pb::CapacityRange &range, uint64_t *quota);

/* True when a volume with quota @quota (0: none) satisfies @range. */
bool csi_range_fits(const pb::CapacityRange &range, uint64_t quota);

/* This node's topology segment into @t. */
void csi_topology(pb::Topology *t);

/* True when @t names this node (or names nothing this plugin knows). */
bool csi_topology_ours(const pb::Topology &t);

/* Page @total entries: *@first is the start from @token ("" = 0) and
 * *@count at most @max (0: no limit); *@next the next token or "".
 * ABORTED for a token this plugin did not hand out; INVALID_ARGUMENT for
 * a negative @max. */
grpc::Status csi_page(const std::string &token, int32_t max, size_t total, size_t *first,
		      size_t *count, std::string *next);

/* Answer a Controller/NodeGetCapabilities call with the RPC capabilities
 * @types. */
template <typename Resp, typename Type>
grpc::Status csi_rpc_caps(Resp *resp, std::initializer_list<Type> types)
{
	for (Type t : types)
		resp->add_capabilities()->mutable_rpc()->set_type(t);
	return grpc::Status::OK;
}

/* Fill @v from the daemon's volume object @vol. */
void csi_volume_fill(const cJSON *vol, pb::Volume *v);

/* ---------------------------------------------------------------- */
/* The services                                                     */
/* ---------------------------------------------------------------- */

/* The declaration of one method of a generated service, overridden:
 * grpc::Status NAME(context, const NAMERequest *, NAMEResponse *). */
#define CSI_RPC(name)                                                                           \
	grpc::Status name(grpc::ServerContext *, const pb::name##Request *, pb::name##Response *) \
	    override

/* A call not offered: UNIMPLEMENTED, and (as the spec wants of every
 * error) a message saying why. */
#define CSI_NOT_OFFERED(name, why)                                                              \
	CSI_RPC(name)                                                                           \
	{                                                                                       \
		return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, why);                      \
	}

class csi_identity final : public pb::Identity::Service
{
	CSI_RPC(GetPluginInfo); CSI_RPC(GetPluginCapabilities); CSI_RPC(Probe);
};

class csi_controller final : public pb::Controller::Service
{
	/* csi_controller.cc */
	CSI_RPC(CreateVolume); CSI_RPC(DeleteVolume); CSI_RPC(ValidateVolumeCapabilities);
	CSI_RPC(ListVolumes); CSI_RPC(GetCapacity); CSI_RPC(ControllerGetCapabilities);
	CSI_RPC(ControllerExpandVolume);
	/* csi_snapshots.cc */
	CSI_RPC(CreateSnapshot); CSI_RPC(DeleteSnapshot); CSI_RPC(ListSnapshots);
	/* A FUSE volume needs no attach step before a node mounts it: no
	 * controller publish, nor what is built on it (read-only publish,
	 * published nodes). ControllerGetVolume is alpha. */
	CSI_NOT_OFFERED(ControllerPublishVolume, "cstorfs volumes need no controller publish "
						 "(no PUBLISH_UNPUBLISH_VOLUME capability)");
	CSI_NOT_OFFERED(ControllerUnpublishVolume, "cstorfs volumes need no controller unpublish "
						   "(no PUBLISH_UNPUBLISH_VOLUME capability)");
	CSI_NOT_OFFERED(ControllerGetVolume, "ControllerGetVolume is not offered (no GET_VOLUME "
					     "capability): use ListVolumes");
};

class csi_node final : public pb::Node::Service
{
	CSI_RPC(NodePublishVolume); CSI_RPC(NodeUnpublishVolume); CSI_RPC(NodeGetVolumeStats);
	CSI_RPC(NodeExpandVolume); CSI_RPC(NodeGetCapabilities); CSI_RPC(NodeGetInfo);
	/* Each publish is a mount of the volume's one FUSE session: there is
	 * no device to stage once per node. */
	CSI_NOT_OFFERED(NodeStageVolume, "cstorfs volumes are not staged (no STAGE_UNSTAGE_VOLUME "
					 "capability)");
	CSI_NOT_OFFERED(NodeUnstageVolume, "cstorfs volumes are not staged (no "
					   "STAGE_UNSTAGE_VOLUME capability)");
};

/* csi_node.cc: the daemon's mount of @path (canonical) into *@volume and
 * *@ro; false when it lists none. */
bool csi_mount_at(csi_client &c, const std::string &path, std::string *volume, bool *ro);

#endif /* CSI_H */
