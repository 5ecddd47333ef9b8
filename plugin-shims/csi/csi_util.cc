/*
 * csi_util.cc - the helpers every cstorfs-csi call uses (see csi.h): the
 * per-call client, errno to gRPC status, JSON fields (cstorfs-ctl's readers
 * in ctl/ctl_fmt.c, linked in), names, volume
 * capabilities, capacity ranges, topology and page tokens. Nothing here
 * talks gRPC beyond building a Status; nothing here keeps state.
 */
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "csi.h"

extern "C" {
#include "ctl_fmt.h" /* jstr, jnum, jbool: a C header without C++ guards */
}

csi_conf csi_config;
std::mutex csi_ops;

void csi_log(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "cstorfs-csi: %s\n", line);
}

/* ---------------------------------------------------------------- */
/* Client and errors                                                */
/* ---------------------------------------------------------------- */

grpc::Status csi_client::open(bool start)
{
	int err = c_ ? 0 : cs_client_new(csi_config.store.c_str(), &c_);

	if (err)
		return csi_fail(grpc::StatusCode::UNAVAILABLE,
				"cannot use store " + csi_config.store + ": " + strerror(-err));
	if (start && (err = cs_client_ensure_daemon(c_)))
		return csi_fail(grpc::StatusCode::UNAVAILABLE,
				std::string("the cstorfs daemon does not answer: ") + errmsg());
	return grpc::Status::OK;
}

int csi_client::volume(const std::string &name, csi_json *out)
{
	cJSON *raw = nullptr;
	int err = cs_client_volume_get(c_, name.c_str(), &raw);

	out->reset(raw);
	return err;
}

grpc::Status csi_client::find(const std::string &name, csi_json *vol, bool *exists)
{
	grpc::Status st = open(true);

	if (!st.ok())
		return st;
	int err = volume(name, vol);
	if (err == -ENOENT && exists) {
		*exists = false;
		return grpc::Status::OK;
	}
	if (exists)
		*exists = true;
	return err ? csi_errno(err, "volume '" + name + "'", *this) : grpc::Status::OK;
}

grpc::Status csi_fail(grpc::StatusCode code, const std::string &msg)
{
	csi_log("error %d: %s", (int)code, msg.c_str());
	return grpc::Status(code, msg);
}

grpc::Status csi_errno(int err, const std::string &what, const csi_client &c)
{
	grpc::StatusCode code = grpc::StatusCode::INTERNAL;
	std::string why = c.errmsg();

	switch (-err) {
	case ENOENT:
		code = grpc::StatusCode::NOT_FOUND;
		break;
	case EEXIST:
		code = grpc::StatusCode::ALREADY_EXISTS;
		break;
	case EBUSY:
	case ENOTEMPTY:
	case EPERM:
		code = grpc::StatusCode::FAILED_PRECONDITION;
		break;
	case EINVAL:
	case ENAMETOOLONG:
		code = grpc::StatusCode::INVALID_ARGUMENT;
		break;
	case ENOSPC:
	case EDQUOT:
		code = grpc::StatusCode::RESOURCE_EXHAUSTED;
		break;
	case -CS_CLIENT_EUNREACHABLE:
	case ETIMEDOUT:
		code = grpc::StatusCode::UNAVAILABLE;
		break;
	}
	if (why.empty())
		why = strerror(-err);
	return csi_fail(code, what + ": " + why);
}

/* ---------------------------------------------------------------- */
/* JSON                                                             */
/* ---------------------------------------------------------------- */

std::string csi_jstr(const cJSON *o, const char *key)
{
	return jstr(o, key);
}

uint64_t csi_ju64(const cJSON *o, const char *key)
{
	return jnum(o, key);
}

bool csi_jtrue(const cJSON *o, const char *key)
{
	return jbool(o, key);
}

/* ---------------------------------------------------------------- */
/* Names and capabilities                                           */
/* ---------------------------------------------------------------- */

grpc::Status csi_check_name(const std::string &name, const char *what)
{
	const std::string w = what;

	if (name.empty())
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT, w + " is required");
	if (name.find('@') != std::string::npos)
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT,
				w + " '" + name + "' contains '@', which cstorfs-csi keeps for "
				"snapshot ids (VOLUME@SNAPSHOT)");
	for (unsigned char ch : name)
		if (ch < 0x20 || ch == 0x7f)
			return csi_fail(grpc::StatusCode::INVALID_ARGUMENT,
					w + " contains a control character");
	if (name.size() != strlen(name.c_str()) || cs_client_name_check(name.c_str()))
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT,
				w + " '" + name + "' is not a cstorfs name (1 to 255 bytes, no '/', "
				"not '.' or '..')");
	return grpc::Status::OK;
}

bool csi_split_snapshot_id(const std::string &id, std::string *vol, std::string *snap)
{
	size_t at = id.rfind('@');

	if (at == std::string::npos || at == 0 || at + 1 == id.size())
		return false;
	*vol = id.substr(0, at);
	*snap = id.substr(at + 1);
	return cs_client_name_check(vol->c_str()) == 0 && cs_client_name_check(snap->c_str()) == 0;
}

using mode = pb::VolumeCapability::AccessMode;

std::string csi_cap_problem(const pb::VolumeCapability &cap)
{
	if (cap.has_block())
		return "block access is not supported: cstorfs volumes are file systems (use "
		       "access type mount)";
	if (!cap.has_mount())
		return "the volume capability names no access type (mount)";
	const std::string &fs = cap.mount().fs_type();
	if (!fs.empty() && fs != "cstorfs" && fs != "fuse.cstorfs")
		return "fs_type '" + fs + "' is not supported: cstorfs volumes are cstorfs (leave "
		       "fs_type empty)";
	switch (cap.access_mode().mode()) {
	case mode::SINGLE_NODE_WRITER:
	case mode::SINGLE_NODE_READER_ONLY:
	case mode::MULTI_NODE_READER_ONLY:
	case mode::SINGLE_NODE_SINGLE_WRITER:
	case mode::SINGLE_NODE_MULTI_WRITER:
		return "";
	case mode::MULTI_NODE_SINGLE_WRITER:
	case mode::MULTI_NODE_MULTI_WRITER:
		return "access mode " + mode::Mode_Name(cap.access_mode().mode()) +
		       " is not supported: a volume is written on the one node whose store holds it";
	default:
		return "the volume capability has no access mode";
	}
}

bool csi_cap_shared(const pb::VolumeCapability &cap)
{
	auto m = cap.access_mode().mode();

	return m == mode::MULTI_NODE_READER_ONLY || m == mode::SINGLE_NODE_MULTI_WRITER;
}

bool csi_cap_readonly(const pb::VolumeCapability &cap)
{
	auto m = cap.access_mode().mode();

	return m == mode::MULTI_NODE_READER_ONLY || m == mode::SINGLE_NODE_READER_ONLY;
}

/* ---------------------------------------------------------------- */
/* Capacity, topology, pages, volumes                               */
/* ---------------------------------------------------------------- */

grpc::Status csi_range_quota(const pb::CapacityRange &range, uint64_t *quota)
{
	int64_t req = range.required_bytes(), lim = range.limit_bytes();

	if (req < 0 || lim < 0)
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT,
				"capacity_range: required_bytes and limit_bytes must not be negative");
	if (lim && req > lim)
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT,
				"capacity_range: required_bytes " + std::to_string(req) +
				    " is over limit_bytes " + std::to_string(lim));
	*quota = (uint64_t)(req ? req : lim);
	return grpc::Status::OK;
}

bool csi_range_fits(const pb::CapacityRange &range, uint64_t quota)
{
	uint64_t req = (uint64_t)range.required_bytes(), lim = (uint64_t)range.limit_bytes();

	if (req && quota && quota < req)
		return false;
	return !lim || (quota && quota <= lim);
}

void csi_topology(pb::Topology *t)
{
	(*t->mutable_segments())[CSI_TOPOLOGY_KEY] = csi_config.node_id;
}

bool csi_topology_ours(const pb::Topology &t)
{
	auto it = t.segments().find(CSI_TOPOLOGY_KEY);

	return it == t.segments().end() || it->second == csi_config.node_id;
}

grpc::Status csi_page(const std::string &token, int32_t max, size_t total, size_t *first,
		      size_t *count, std::string *next)
{
	size_t start = 0;

	if (max < 0)
		return csi_fail(grpc::StatusCode::INVALID_ARGUMENT, "max_entries must not be negative");
	if (!token.empty()) {
		char *end = nullptr;
		unsigned long long v;

		errno = 0;
		v = strtoull(token.c_str(), &end, 10);
		if (errno || *end || token[0] < '1' || token[0] > '9' || v >= total)
			return csi_fail(grpc::StatusCode::ABORTED,
					"starting_token '" + token + "' is not one this plugin "
					"handed out (or the list shrank): list again from the start");
		start = (size_t)v;
	}
	*first = start;
	*count = total - start;
	if (max && *count > (size_t)max)
		*count = (size_t)max;
	next->clear();
	if (start + *count < total)
		*next = std::to_string(start + *count);
	return grpc::Status::OK;
}

void csi_volume_fill(const cJSON *vol, pb::Volume *v)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(vol, "props");
	std::string src = csi_jstr(props, CSI_PROP_SOURCE);

	v->set_volume_id(csi_jstr(vol, "name"));
	v->set_capacity_bytes((int64_t)csi_ju64(vol, "quota"));
	csi_topology(v->add_accessible_topology());
	if (src.rfind("snapshot:", 0) == 0)
		v->mutable_content_source()->mutable_snapshot()->set_snapshot_id(src.substr(9));
	else if (src.rfind("volume:", 0) == 0)
		v->mutable_content_source()->mutable_volume()->set_volume_id(src.substr(7));
}
