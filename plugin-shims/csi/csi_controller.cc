/*
 * csi_controller.cc - the Controller service's volume calls: create (empty,
 * from a snapshot, from a volume), delete, validate capabilities, list,
 * capacity, capabilities, expansion. Snapshots are in csi_snapshots.cc.
 *
 * CreateVolume is idempotent by name: the volume keeps the request it was
 * made with (parameters and content source) in the property "csi.request";
 * the same request again answers the same volume, another one
 * ALREADY_EXISTS. The capacity is checked against the volume's quota as it
 * is now, so a volume expanded since still matches. A volume made from a
 * volume is a snapshot of the source ("csi-clone-NAME") and an O(1) clone
 * of it; deleting the clone deletes that snapshot too.
 */
#include <cerrno>

#include "csi.h"

using code = grpc::StatusCode;

namespace
{

struct create_args {
	std::string name;
	uint64_t quota = 0;
	std::string compression; /* "" = the daemon's default (a clone: origin's) */
	std::string source;	 /* "", "snapshot:V@S", "volume:V" */
	std::string key;	 /* what CSI_PROP_REQUEST records */
};

grpc::Status parse_params(const google::protobuf::Map<std::string, std::string> &params,
			  std::string *compression)
{
	for (const auto &kv : params) {
		if (kv.first == "compression") {
			*compression = kv.second;
			continue;
		}
		/* The external-provisioner's --extra-create-metadata. */
		if (kv.first.rfind("csi.storage.k8s.io/", 0) == 0)
			continue;
		return csi_fail(code::INVALID_ARGUMENT,
				"unknown parameter '" + kv.first +
				    "' (cstorfs-csi knows 'compression': zstd:N or none)");
	}
	return grpc::Status::OK;
}

grpc::Status parse_source(const pb::CreateVolumeRequest *req, std::string *source)
{
	std::string vol, snap;

	if (!req->has_volume_content_source())
		return grpc::Status::OK;
	const auto &src = req->volume_content_source();
	if (src.has_snapshot()) {
		if (!csi_split_snapshot_id(src.snapshot().snapshot_id(), &vol, &snap))
			return csi_fail(code::NOT_FOUND, "snapshot '" + src.snapshot().snapshot_id() +
							     "' does not exist (ids are VOLUME@SNAPSHOT)");
		*source = "snapshot:" + src.snapshot().snapshot_id();
	} else if (src.has_volume()) {
		grpc::Status st = csi_check_name(src.volume().volume_id(), "source volume id");
		if (!st.ok())
			return st;
		*source = "volume:" + src.volume().volume_id();
	} else {
		return csi_fail(code::INVALID_ARGUMENT, "volume_content_source names no source");
	}
	return grpc::Status::OK;
}

/* RESOURCE_EXHAUSTED when the request's topology excludes this node. */
grpc::Status check_topology(const pb::CreateVolumeRequest *req)
{
	if (!req->has_accessibility_requirements())
		return grpc::Status::OK;
	const auto &tr = req->accessibility_requirements();
	if (tr.requisite_size() == 0)
		return grpc::Status::OK;
	for (const auto &t : tr.requisite())
		if (csi_topology_ours(t))
			return grpc::Status::OK;
	return csi_fail(code::RESOURCE_EXHAUSTED,
			"the requisite topology does not include node '" + csi_config.node_id +
			    "', whose store this plugin serves");
}

grpc::Status parse_create(const pb::CreateVolumeRequest *req, create_args *a)
{
	grpc::Status st = csi_check_name(req->name(), "name");

	if (!st.ok())
		return st;
	a->name = req->name();
	if (req->volume_capabilities_size() == 0)
		return csi_fail(code::INVALID_ARGUMENT, "volume_capabilities is required");
	for (const auto &cap : req->volume_capabilities()) {
		std::string why = csi_cap_problem(cap);
		if (!why.empty())
			return csi_fail(code::INVALID_ARGUMENT, why);
	}
	if ((st = csi_range_quota(req->capacity_range(), &a->quota)).ok() &&
	    (st = parse_params(req->parameters(), &a->compression)).ok() &&
	    (st = parse_source(req, &a->source)).ok())
		st = check_topology(req);
	a->key = "compression=" + a->compression + ";source=" + a->source;
	return st;
}

/* The store's free bytes above its reserve. */
int store_free(csi_client &c, uint64_t *out)
{
	cJSON *raw = nullptr;
	int err = cs_client_status(c.get(), &raw);
	csi_json status(raw);

	if (err)
		return err;
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(status.get(), "health");
	uint64_t free = csi_ju64(h, "free_bytes"), reserve = csi_ju64(h, "reserve_bytes");
	*out = free > reserve ? free - reserve : 0;
	return 0;
}

/* The volume @a names exists: the same request answers it, another one is
 * ALREADY_EXISTS. */
grpc::Status existing(const cJSON *vol, const create_args &a, const pb::CreateVolumeRequest *req,
		      pb::CreateVolumeResponse *resp)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(vol, "props");
	std::string had = csi_jstr(props, CSI_PROP_REQUEST);

	if (had.empty())
		return csi_fail(code::ALREADY_EXISTS, "volume '" + a.name +
							  "' exists and was not made by CreateVolume");
	if (had != a.key)
		return csi_fail(code::ALREADY_EXISTS,
				"volume '" + a.name + "' exists with other parameters (" + had + ")");
	if (!csi_range_fits(req->capacity_range(), csi_ju64(vol, "quota")))
		return csi_fail(code::ALREADY_EXISTS,
				"volume '" + a.name + "' exists with a quota of " +
				    std::to_string(csi_ju64(vol, "quota")) +
				    " bytes, outside the capacity_range asked");
	csi_volume_fill(vol, resp->mutable_volume());
	return grpc::Status::OK;
}

/* A clone of snapshot "V@S"; OUT_OF_RANGE when the quota asked is below
 * what the snapshot holds. */
grpc::Status clone_snapshot(csi_client &c, const create_args &a, const std::string &id,
			    csi_json *out)
{
	std::string vol, snap;
	cJSON *raw = nullptr, *it;
	bool found = false;

	csi_split_snapshot_id(id, &vol, &snap);
	int err = cs_client_snapshot_list(c.get(), vol.c_str(), &raw);
	csi_json list(raw);
	if (err && err != -ENOENT)
		return csi_errno(err, "cannot list the snapshots of '" + vol + "'", c);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list.get(), "snapshots"))
	{
		if (csi_jstr(it, "name") != snap)
			continue;
		found = true;
		if (a.quota && csi_ju64(it, "referenced_bytes") > a.quota)
			return csi_fail(code::OUT_OF_RANGE,
					"snapshot '" + id + "' holds " +
					    std::to_string(csi_ju64(it, "referenced_bytes")) +
					    " bytes, more than the capacity asked");
	}
	if (!found)
		return csi_fail(code::NOT_FOUND, "snapshot '" + id + "' does not exist");
	raw = nullptr;
	err = cs_client_volume_create(c.get(), a.name.c_str(), id.c_str(),
				      a.compression.empty() ? nullptr : a.compression.c_str(),
				      a.quota, &raw);
	out->reset(raw);
	return err ? csi_errno(err, "cannot clone '" + id + "' as '" + a.name + "'", c)
		   : grpc::Status::OK;
}

/* A snapshot of volume @src (kept while the clone lives) and its clone. */
grpc::Status clone_volume(csi_client &c, const create_args &a, const std::string &src,
			  csi_json *out)
{
	std::string snap = CSI_CLONE_PREFIX + a.name;
	csi_json vol;
	int err = c.volume(src, &vol);

	if (err)
		return csi_errno(err, "source volume '" + src + "'", c);
	grpc::Status st = csi_check_name(snap, "the clone's snapshot name");
	if (!st.ok())
		return st;
	err = cs_client_snapshot_create(c.get(), src.c_str(), snap.c_str(), nullptr);
	if (err && err != -EEXIST)
		return csi_errno(err, "cannot snapshot '" + src + "' to clone it", c);
	st = clone_snapshot(c, a, src + "@" + snap, out);
	if (!st.ok() && cs_client_snapshot_delete(c.get(), src.c_str(), snap.c_str()))
		csi_log("cannot remove snapshot %s@%s: %s", src.c_str(), snap.c_str(), c.errmsg());
	return st;
}

grpc::Status make_volume(csi_client &c, const create_args &a, csi_json *out)
{
	grpc::Status st;
	cJSON *raw = nullptr;

	if (a.source.rfind("snapshot:", 0) == 0) {
		st = clone_snapshot(c, a, a.source.substr(9), out);
	} else if (a.source.rfind("volume:", 0) == 0) {
		st = clone_volume(c, a, a.source.substr(7), out);
	} else {
		int err = cs_client_volume_create(c.get(), a.name.c_str(), nullptr,
						  a.compression.empty() ? nullptr
									: a.compression.c_str(),
						  a.quota, &raw);
		out->reset(raw);
		if (err)
			st = csi_errno(err, "cannot create volume '" + a.name + "'", c);
	}
	return st;
}

/* Record the request with the volume; undo the volume when that fails. */
grpc::Status record(csi_client &c, const create_args &a)
{
	cJSON *props = cJSON_CreateObject();
	int err = -ENOMEM;

	if (props && cJSON_AddStringToObject(props, CSI_PROP_REQUEST, a.key.c_str()) &&
	    (a.source.empty() || cJSON_AddStringToObject(props, CSI_PROP_SOURCE, a.source.c_str())))
		err = cs_client_props_set(c.get(), a.name.c_str(), props, nullptr);
	cJSON_Delete(props);
	if (!err)
		return grpc::Status::OK;
	grpc::Status st = csi_errno(err, "cannot record the request with '" + a.name + "'", c);
	if (cs_client_volume_delete(c.get(), a.name.c_str(), 1))
		csi_log("cannot remove volume %s: %s", a.name.c_str(), c.errmsg());
	return st;
}

} /* namespace */

grpc::Status csi_controller::CreateVolume(grpc::ServerContext *, const pb::CreateVolumeRequest *req,
					  pb::CreateVolumeResponse *resp)
{
	create_args a;
	csi_client c;
	csi_json vol;
	uint64_t free = 0;
	bool exists = false;
	int err;
	grpc::Status st = parse_create(req, &a);

	if (!st.ok())
		return st;
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.find(a.name, &vol, &exists)).ok() || exists)
		return st.ok() ? existing(vol.get(), a, req, resp) : st;
	if ((err = store_free(c, &free)))
		return csi_errno(err, "cannot read the store's free space", c);
	if (a.quota > free)
		return csi_fail(code::RESOURCE_EXHAUSTED,
				"the store has " + std::to_string(free) + " bytes free, less than the " +
				    std::to_string(a.quota) + " asked");
	if (!(st = make_volume(c, a, &vol)).ok() || !(st = record(c, a)).ok())
		return st;
	if ((err = c.volume(a.name, &vol)))
		return csi_errno(err, "cannot read volume '" + a.name + "' back", c);
	csi_volume_fill(vol.get(), resp->mutable_volume());
	csi_log("created volume %s (%s)", a.name.c_str(), a.key.c_str());
	return grpc::Status::OK;
}

namespace
{

/* FAILED_PRECONDITION when @vol is mounted or has snapshots of its own
 * (not the ones made to clone it). */
grpc::Status deletable(csi_client &c, const cJSON *vol, const std::string &name)
{
	cJSON *raw = nullptr, *it;

	if (csi_jtrue(vol, "mounted"))
		return csi_fail(code::FAILED_PRECONDITION,
				"volume '" + name + "' is published (mounted): unpublish it first");
	int err = cs_client_snapshot_list(c.get(), name.c_str(), &raw);
	csi_json list(raw);
	if (err)
		return csi_errno(err, "cannot list the snapshots of '" + name + "'", c);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list.get(), "snapshots"))
	{
		std::string s = csi_jstr(it, "name");
		if (s.rfind(CSI_CLONE_PREFIX, 0) != 0)
			return csi_fail(code::FAILED_PRECONDITION,
					"volume '" + name + "' has snapshot '" + name + "@" + s +
					    "': delete its snapshots first");
	}
	return grpc::Status::OK;
}

} /* namespace */

grpc::Status csi_controller::DeleteVolume(grpc::ServerContext *, const pb::DeleteVolumeRequest *req,
					  pb::DeleteVolumeResponse *)
{
	const std::string &name = req->volume_id();
	grpc::Status st = csi_check_name(name, "volume_id");
	csi_client c;
	csi_json vol;
	std::string ovol, osnap;
	bool exists = false;

	if (!st.ok())
		return st;
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.find(name, &vol, &exists)).ok() || !exists)
		return st;
	if (!(st = deletable(c, vol.get(), name)).ok())
		return st;
	bool helper = csi_split_snapshot_id(csi_jstr(vol.get(), "origin"), &ovol, &osnap) &&
		      osnap == CSI_CLONE_PREFIX + name;
	int err = cs_client_volume_delete(c.get(), name.c_str(), 0);
	if (err && err != -ENOENT)
		return csi_errno(err, "cannot delete volume '" + name + "'", c);
	if (helper && (err = cs_client_snapshot_delete(c.get(), ovol.c_str(), osnap.c_str())) &&
	    err != -ENOENT)
		csi_log("volume %s deleted, its clone snapshot %s@%s stays: %s", name.c_str(),
			ovol.c_str(), osnap.c_str(), c.errmsg());
	csi_log("deleted volume %s", name.c_str());
	return grpc::Status::OK;
}

grpc::Status csi_controller::ValidateVolumeCapabilities(
    grpc::ServerContext *, const pb::ValidateVolumeCapabilitiesRequest *req,
    pb::ValidateVolumeCapabilitiesResponse *resp)
{
	grpc::Status st = csi_check_name(req->volume_id(), "volume_id");
	std::string compression;
	csi_client c;
	csi_json vol;

	if (!st.ok())
		return st;
	if (req->volume_capabilities_size() == 0)
		return csi_fail(code::INVALID_ARGUMENT, "volume_capabilities is required");
	if (!(st = c.find(req->volume_id(), &vol)).ok())
		return st;
	for (const auto &cap : req->volume_capabilities()) {
		std::string why = csi_cap_problem(cap);
		if (!why.empty()) {
			resp->set_message(why);
			return grpc::Status::OK;
		}
	}
	if (!parse_params(req->parameters(), &compression).ok()) {
		resp->set_message("unknown parameters (cstorfs-csi knows 'compression')");
		return grpc::Status::OK;
	}
	auto *ok = resp->mutable_confirmed();
	*ok->mutable_volume_context() = req->volume_context();
	*ok->mutable_volume_capabilities() = req->volume_capabilities();
	*ok->mutable_parameters() = req->parameters();
	return grpc::Status::OK;
}

grpc::Status csi_controller::ListVolumes(grpc::ServerContext *, const pb::ListVolumesRequest *req,
					 pb::ListVolumesResponse *resp)
{
	csi_client c;
	cJSON *raw = nullptr;
	size_t first, count;
	std::string next;
	grpc::Status st = c.open(true);

	if (!st.ok())
		return st;
	int err = cs_client_volume_list(c.get(), &raw);
	csi_json list(raw);
	if (err)
		return csi_errno(err, "cannot list volumes", c);
	const cJSON *vols = cJSON_GetObjectItemCaseSensitive(list.get(), "volumes");
	size_t total = (size_t)cJSON_GetArraySize(vols);
	if (!(st = csi_page(req->starting_token(), req->max_entries(), total, &first, &count, &next))
		 .ok())
		return st;
	for (size_t i = first; i < first + count; i++)
		csi_volume_fill(cJSON_GetArrayItem(vols, (int)i),
				resp->add_entries()->mutable_volume());
	resp->set_next_token(next);
	return grpc::Status::OK;
}

grpc::Status csi_controller::GetCapacity(grpc::ServerContext *, const pb::GetCapacityRequest *req,
					 pb::GetCapacityResponse *resp)
{
	std::string compression;
	uint64_t free = 0;
	csi_client c;

	for (const auto &cap : req->volume_capabilities())
		if (!csi_cap_problem(cap).empty())
			return grpc::Status::OK; /* no room for what cannot be made */
	if (req->has_accessible_topology() && !csi_topology_ours(req->accessible_topology()))
		return grpc::Status::OK;
	grpc::Status st = parse_params(req->parameters(), &compression);
	if (!st.ok())
		return st;
	if (!(st = c.open(true)).ok())
		return st;
	int err = store_free(c, &free);
	if (err)
		return csi_errno(err, "cannot read the store's free space", c);
	resp->set_available_capacity((int64_t)free);
	return grpc::Status::OK;
}

grpc::Status csi_controller::ControllerGetCapabilities(grpc::ServerContext *,
						       const pb::ControllerGetCapabilitiesRequest *,
						       pb::ControllerGetCapabilitiesResponse *resp)
{
	using rpc = pb::ControllerServiceCapability::RPC;

	/* Not offered, and why: README.md, "Kubernetes (CSI)". */
	return csi_rpc_caps(resp, {rpc::CREATE_DELETE_VOLUME, rpc::LIST_VOLUMES, rpc::GET_CAPACITY,
				   rpc::CREATE_DELETE_SNAPSHOT, rpc::LIST_SNAPSHOTS, rpc::CLONE_VOLUME,
				   rpc::EXPAND_VOLUME, rpc::SINGLE_NODE_MULTI_WRITER});
}

grpc::Status csi_controller::ControllerExpandVolume(grpc::ServerContext *,
						    const pb::ControllerExpandVolumeRequest *req,
						    pb::ControllerExpandVolumeResponse *resp)
{
	const std::string &name = req->volume_id();
	grpc::Status st = csi_check_name(name, "volume_id");
	uint64_t want = 0;
	csi_client c;
	csi_json vol;

	if (!st.ok())
		return st;
	if (!req->has_capacity_range())
		return csi_fail(code::INVALID_ARGUMENT, "capacity_range is required");
	if (req->has_volume_capability() && !csi_cap_problem(req->volume_capability()).empty())
		return csi_fail(code::INVALID_ARGUMENT, csi_cap_problem(req->volume_capability()));
	if (!(st = csi_range_quota(req->capacity_range(), &want)).ok())
		return csi_fail(code::OUT_OF_RANGE, st.error_message());
	if (!want)
		return csi_fail(code::INVALID_ARGUMENT, "capacity_range asks for no size");
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.find(name, &vol)).ok())
		return st;
	uint64_t quota = csi_ju64(vol.get(), "quota");
	resp->set_node_expansion_required(false);
	if (!quota || quota >= want) { /* no quota is no limit: already big enough */
		resp->set_capacity_bytes((int64_t)(quota ? quota : want));
		return grpc::Status::OK;
	}
	int err = cs_client_volume_set_quota(c.get(), name.c_str(), want, nullptr);
	if (err)
		return csi_errno(err, "cannot raise the quota of '" + name + "'", c);
	csi_log("volume %s: quota %llu -> %llu bytes", name.c_str(), (unsigned long long)quota,
		(unsigned long long)want);
	resp->set_capacity_bytes((int64_t)want);
	return grpc::Status::OK;
}
