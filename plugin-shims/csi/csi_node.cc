/*
 * csi_node.cc - the Node service: publish (mount) and unpublish a volume
 * at a target path, its statistics, expansion, the node's capabilities
 * and identity.
 *
 * Publish asks the daemon for a shared mount (one FUSE session per
 * volume, a bind mount per target path), read-only when asked or when the
 * access mode is a reader-only one; the daemon's mount list is the record
 * of what is published where, so publishing the same volume at the same
 * path again is answered from it (same volume and read-only flag: OK;
 * anything else: ALREADY_EXISTS). A single-writer access mode refuses a
 * second target path (FAILED_PRECONDITION). volume_mount_group (the pod's
 * fsGroup) gives the volume root to that group with mode 02775, so files
 * made under it inherit the group.
 *
 * Unpublish asks the daemon to unmount (never starting one for that), then
 * detaches whatever cstorfs mount /proc/self/mountinfo still shows at the
 * path (a daemon that died leaves dead FUSE mounts), then removes the
 * target directory, as the spec asks.
 */
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "csi.h"

extern "C" {
#include "cs_mountinfo.h" /* a C header without C++ guards */
}

using code = grpc::StatusCode;

#define CSI_DETACH_TRIES 8

namespace
{

/* @path with its parent resolved and its last component kept as it is,
 * since that may be a FUSE mount whose daemon is gone. */
grpc::Status canonical(const std::string &path, const char *what, std::string *out)
{
	std::string p = path;
	char real[PATH_MAX];

	if (p.empty())
		return csi_fail(code::INVALID_ARGUMENT, std::string(what) + " is required");
	if (p[0] != '/')
		return csi_fail(code::INVALID_ARGUMENT,
				std::string(what) + " '" + p + "' is not an absolute path");
	while (p.size() > 1 && p.back() == '/')
		p.pop_back();
	size_t slash = p.rfind('/');
	std::string leaf = p.substr(slash + 1), parent = slash ? p.substr(0, slash) : "/";
	if (leaf.empty() || leaf == "." || leaf == "..")
		return csi_fail(code::INVALID_ARGUMENT,
				std::string(what) + " '" + path + "' names no directory");
	if (!realpath(parent.c_str(), real))
		return csi_fail(errno == ENOENT ? code::NOT_FOUND : code::INVALID_ARGUMENT,
				"cannot resolve " + parent + ": " + strerror(errno));
	*out = std::string(real) + (strcmp(real, "/") ? "/" : "") + leaf;
	return grpc::Status::OK;
}

/* The type of the topmost mount at @path ("" when none). */
std::string mount_type(const std::string &path)
{
	std::ifstream f("/proc/self/mountinfo");
	std::string line, type;

	while (std::getline(f, line)) {
		std::istringstream in(line);
		std::string field, mp;
		for (int i = 0; i < 5 && in >> field; i++)
			mp = field;
		std::vector<char> buf(mp.begin(), mp.end());
		buf.push_back('\0');
		cs_mountinfo_unescape(buf.data());
		size_t dash = line.find(" - ");
		if (path != buf.data() || dash == std::string::npos)
			continue;
		std::istringstream rest(line.substr(dash + 3));
		rest >> type;
	}
	return type;
}

/* Every mount point the daemon lists for @volume but @except. */
std::vector<std::string> mounts_of(const cJSON *list, const std::string &volume,
				   const std::string &except)
{
	std::vector<std::string> out;
	const cJSON *m;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "mounts"))
	{
		if (csi_jstr(m, "volume") == volume && csi_jstr(m, "mountpoint") != except)
			out.push_back(csi_jstr(m, "mountpoint"));
	}
	return out;
}

struct publish_args {
	std::string volume, target, options;
	bool ro = false, shared = false, group = false;
	gid_t gid = 0;
};

grpc::Status parse_capability(const pb::VolumeCapability &cap, publish_args *a)
{
	std::string why = csi_cap_problem(cap);
	auto m = cap.access_mode().mode();

	if (!why.empty())
		return csi_fail(m == pb::VolumeCapability::AccessMode::MULTI_NODE_SINGLE_WRITER ||
					m == pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER
				    ? code::FAILED_PRECONDITION
				    : code::INVALID_ARGUMENT,
				why);
	a->shared = csi_cap_shared(cap);
	a->options = "allow_other";
	for (const auto &flag : cap.mount().mount_flags()) {
		if (flag.empty() || flag.find(',') != std::string::npos)
			return csi_fail(code::INVALID_ARGUMENT, "bad mount flag '" + flag + "'");
		a->options += "," + flag;
	}
	const std::string &g = cap.mount().volume_mount_group();
	if (g.empty())
		return grpc::Status::OK;
	char *end = nullptr;
	errno = 0;
	unsigned long v = strtoul(g.c_str(), &end, 10);
	if (errno || *end || !isdigit((unsigned char)g[0]) || v >= (gid_t)-1)
		return csi_fail(code::INVALID_ARGUMENT,
				"volume_mount_group '" + g + "' is not a numeric group id");
	a->group = true;
	a->gid = (gid_t)v;
	return grpc::Status::OK;
}

grpc::Status parse_publish(const pb::NodePublishVolumeRequest *req, publish_args *a)
{
	grpc::Status st = csi_check_name(req->volume_id(), "volume_id");

	if (!st.ok() || !(st = canonical(req->target_path(), "target_path", &a->target)).ok())
		return st;
	if (!req->has_volume_capability())
		return csi_fail(code::INVALID_ARGUMENT, "volume_capability is required");
	if (!(st = parse_capability(req->volume_capability(), a)).ok())
		return st;
	a->volume = req->volume_id();
	a->ro = req->readonly() || csi_cap_readonly(req->volume_capability());
	return grpc::Status::OK;
}

/* What is already published decides: the same mount again is done (*@done),
 * another at the target ALREADY_EXISTS, a second target of a single-writer
 * volume FAILED_PRECONDITION. */
grpc::Status published(csi_client &c, const publish_args &a, bool *done)
{
	std::string have;
	bool ro = false;
	cJSON *raw = nullptr;

	*done = false;
	if (csi_mount_at(c, a.target, &have, &ro)) {
		if (have != a.volume || ro != a.ro)
			return csi_fail(code::ALREADY_EXISTS,
					a.target + " is already a " + (ro ? "read-only" : "read-write") +
					    " mount of volume '" + have + "'");
		*done = true;
		return grpc::Status::OK;
	}
	int err = cs_client_mount_list(c.get(), &raw);
	csi_json list(raw);
	if (err)
		return csi_errno(err, "cannot list mounts", c);
	std::vector<std::string> other = mounts_of(list.get(), a.volume, a.target);
	if (!a.shared && !other.empty())
		return csi_fail(code::FAILED_PRECONDITION,
				"volume '" + a.volume + "' is published at " + other[0] +
				    " and its access mode allows one target path");
	return grpc::Status::OK;
}

grpc::Status mount_group(csi_client &c, const publish_args &a)
{
	if (chown(a.target.c_str(), (uid_t)-1, a.gid) == 0 &&
	    chmod(a.target.c_str(), CSI_FSGROUP_MODE) == 0)
		return grpc::Status::OK;
	std::string why = strerror(errno);
	if (cs_client_unmount(c.get(), a.target.c_str(), 1))
		csi_log("cannot undo the mount at %s: %s", a.target.c_str(), c.errmsg());
	return csi_fail(code::INTERNAL, "cannot give the volume root at " + a.target + " to group " +
					    std::to_string(a.gid) + ": " + why);
}

} /* namespace */

bool csi_mount_at(csi_client &c, const std::string &path, std::string *volume, bool *ro)
{
	cJSON *raw = nullptr;
	const cJSON *m;

	if (cs_client_mount_list(c.get(), &raw))
		return false;
	csi_json list(raw);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list.get(), "mounts"))
	{
		if (csi_jstr(m, "mountpoint") != path)
			continue;
		*volume = csi_jstr(m, "volume");
		*ro = csi_jtrue(m, "readonly");
		return true;
	}
	return false;
}

grpc::Status csi_node::NodePublishVolume(grpc::ServerContext *,
					 const pb::NodePublishVolumeRequest *req,
					 pb::NodePublishVolumeResponse *)
{
	publish_args a;
	csi_client c;
	csi_json vol;
	bool done = false;
	grpc::Status st = parse_publish(req, &a);

	if (!st.ok())
		return st;
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.find(a.volume, &vol)).ok() || !(st = published(c, a, &done)).ok() || done)
		return st;
	if (mkdir(a.target.c_str(), 0750) < 0 && errno != EEXIST)
		return csi_fail(code::INTERNAL, "cannot create " + a.target + ": " + strerror(errno));
	unsigned flags = CS_CLIENT_MOUNT_SHARED | (a.ro ? CS_CLIENT_MOUNT_RDONLY : 0);
	int err = cs_client_mount(c.get(), a.volume.c_str(), a.target.c_str(), a.options.c_str(),
				  flags, nullptr);
	if (err) {
		st = csi_errno(err, "cannot mount volume '" + a.volume + "' at " + a.target, c);
		rmdir(a.target.c_str()); /* made above, empty: leave nothing behind */
		return st;
	}
	if (a.group && !a.ro && !(st = mount_group(c, a)).ok())
		return st;
	csi_log("published volume %s at %s (%s)", a.volume.c_str(), a.target.c_str(),
		a.ro ? "ro" : "rw");
	return grpc::Status::OK;
}

namespace
{

/* Detach every cstorfs mount left at @path; *@found when there was one. */
grpc::Status detach_leftovers(const std::string &path, bool *found)
{
	for (int i = 0; i < CSI_DETACH_TRIES; i++) {
		std::string type = mount_type(path);
		if (type.empty())
			return grpc::Status::OK;
		if (type.rfind("fuse.cstorfs", 0) != 0)
			return csi_fail(code::FAILED_PRECONDITION,
					path + " is a " + type + " mount, not a cstorfs one: not "
					"touching it");
		*found = true;
		if (umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL)
			return csi_fail(code::INTERNAL,
					"cannot detach the mount at " + path + ": " + strerror(errno));
		csi_log("detached a cstorfs mount the daemon did not hold at %s", path.c_str());
	}
	return csi_fail(code::INTERNAL, path + " stays mounted after " +
					    std::to_string(CSI_DETACH_TRIES) + " unmounts");
}

/* Unmount @target through the daemon when one answers; *@found when it
 * held a mount there. */
grpc::Status daemon_unmount(csi_client &c, const std::string &target, bool *found)
{
	std::string have;
	bool ro;

	if (!cs_client_ping(c.get()))
		return grpc::Status::OK;
	*found = csi_mount_at(c, target, &have, &ro);
	int err = cs_client_unmount(c.get(), target.c_str(), 1);
	return err ? csi_errno(err, "cannot unmount " + target, c) : grpc::Status::OK;
}

} /* namespace */

grpc::Status csi_node::NodeUnpublishVolume(grpc::ServerContext *,
					   const pb::NodeUnpublishVolumeRequest *req,
					   pb::NodeUnpublishVolumeResponse *)
{
	std::string target;
	bool found = false;
	csi_client c;
	csi_json vol;
	grpc::Status st = csi_check_name(req->volume_id(), "volume_id");

	if (!st.ok())
		return st;
	st = canonical(req->target_path(), "target_path", &target);
	if (st.error_code() == code::NOT_FOUND)
		target.clear(); /* its parent is gone: nothing is mounted there */
	else if (!st.ok())
		return st;
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.open(false)).ok())
		return st;
	if (!target.empty() && (!(st = daemon_unmount(c, target, &found)).ok() ||
				!(st = detach_leftovers(target, &found)).ok()))
		return st;
	if (!target.empty() && rmdir(target.c_str()) < 0 && errno != ENOENT)
		return csi_fail(code::INTERNAL, "cannot remove " + target + ": " + strerror(errno));
	if (found) {
		csi_log("unpublished volume %s at %s", req->volume_id().c_str(), target.c_str());
		return grpc::Status::OK;
	}
	/* Nothing was published: fine, unless the volume does not exist. */
	return c.find(req->volume_id(), &vol);
}

namespace
{

/* The volume must exist and be published at @path: NOT_FOUND otherwise. */
grpc::Status published_at(csi_client &c, const std::string &volume, const std::string &path,
			  std::string *canon, csi_json *vol)
{
	std::string have;
	bool ro;
	grpc::Status st = csi_check_name(volume, "volume_id");

	if (!st.ok() || !(st = canonical(path, "volume_path", canon)).ok() ||
	    !(st = c.find(volume, vol)).ok())
		return st;
	if (!csi_mount_at(c, *canon, &have, &ro) || have != volume)
		return csi_fail(code::NOT_FOUND,
				"volume '" + volume + "' is not published at " + *canon);
	return grpc::Status::OK;
}

void usage(pb::NodeGetVolumeStatsResponse *resp, pb::VolumeUsage::Unit unit, uint64_t total,
	   uint64_t avail, uint64_t free)
{
	auto *u = resp->add_usage();

	u->set_unit(unit);
	u->set_total((int64_t)total);
	u->set_available((int64_t)avail);
	u->set_used((int64_t)(total > free ? total - free : 0));
}

} /* namespace */

grpc::Status csi_node::NodeGetVolumeStats(grpc::ServerContext *,
					  const pb::NodeGetVolumeStatsRequest *req,
					  pb::NodeGetVolumeStatsResponse *resp)
{
	std::string path;
	csi_client c;
	csi_json vol;
	struct statvfs sv;
	grpc::Status st = published_at(c, req->volume_id(), req->volume_path(), &path, &vol);

	if (!st.ok())
		return st;
	if (statvfs(path.c_str(), &sv) < 0)
		return csi_fail(code::INTERNAL, "statfs of " + path + ": " + strerror(errno));
	usage(resp, pb::VolumeUsage::BYTES, (uint64_t)sv.f_blocks * sv.f_frsize,
	      (uint64_t)sv.f_bavail * sv.f_frsize, (uint64_t)sv.f_bfree * sv.f_frsize);
	usage(resp, pb::VolumeUsage::INODES, sv.f_files, sv.f_favail, sv.f_ffree);
	return grpc::Status::OK;
}

grpc::Status csi_node::NodeExpandVolume(grpc::ServerContext *,
					const pb::NodeExpandVolumeRequest *req,
					pb::NodeExpandVolumeResponse *resp)
{
	std::string path;
	uint64_t want = 0;
	csi_client c;
	csi_json vol;
	grpc::Status st;

	if (req->has_volume_capability() && !csi_cap_problem(req->volume_capability()).empty())
		return csi_fail(code::INVALID_ARGUMENT, csi_cap_problem(req->volume_capability()));
	if (!(st = csi_range_quota(req->capacity_range(), &want)).ok())
		return csi_fail(code::OUT_OF_RANGE, st.error_message());
	if (!(st = published_at(c, req->volume_id(), req->volume_path(), &path, &vol)).ok())
		return st;
	uint64_t quota = csi_ju64(vol.get(), "quota");
	if (quota && want > quota)
		return csi_fail(code::OUT_OF_RANGE,
				"volume '" + req->volume_id() + "' has a quota of " +
				    std::to_string(quota) + " bytes: ControllerExpandVolume first");
	/* The quota is the size and the daemon enforces it live: nothing to
	 * grow on the node. */
	resp->set_capacity_bytes((int64_t)(quota ? quota : want));
	return grpc::Status::OK;
}

grpc::Status csi_node::NodeGetCapabilities(grpc::ServerContext *,
					   const pb::NodeGetCapabilitiesRequest *,
					   pb::NodeGetCapabilitiesResponse *resp)
{
	using rpc = pb::NodeServiceCapability::RPC;

	return csi_rpc_caps(resp, {rpc::GET_VOLUME_STATS, rpc::EXPAND_VOLUME,
				   rpc::SINGLE_NODE_MULTI_WRITER, rpc::VOLUME_MOUNT_GROUP});
}

grpc::Status csi_node::NodeGetInfo(grpc::ServerContext *, const pb::NodeGetInfoRequest *,
				   pb::NodeGetInfoResponse *resp)
{
	resp->set_node_id(csi_config.node_id);
	csi_topology(resp->mutable_accessible_topology());
	return grpc::Status::OK;
}
