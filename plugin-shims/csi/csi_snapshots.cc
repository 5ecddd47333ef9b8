/*
 * csi_snapshots.cc - the Controller service's snapshot calls: create,
 * delete, list (paginated). A snapshot id is "VOLUME@SNAPSHOT"; the CSI
 * name becomes the cstorfs snapshot name. CSI snapshot names are unique
 * across the plugin while cstorfs names are unique per volume, so
 * CreateSnapshot looks for the name on every volume: on the source volume
 * it is the same snapshot (idempotent), on another ALREADY_EXISTS.
 *
 * Snapshots are taken by the daemon (syncfs first when the volume is
 * mounted), complete when the call returns: ready_to_use is always true.
 */
#include <cerrno>
#include <ctime>

#include "csi.h"

using code = grpc::StatusCode;

namespace
{

/* The snapshots of volume @vol into @out (the daemon's objects, oldest
 * first; @keep owns them). A missing volume has none. */
int gather_one(csi_client &c, const std::string &vol, std::vector<csi_json> *keep,
	       std::vector<const cJSON *> *out)
{
	cJSON *raw = nullptr, *it;
	int err = cs_client_snapshot_list(c.get(), vol.c_str(), &raw);

	keep->emplace_back(raw);
	if (err)
		return err == -ENOENT ? 0 : err;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(raw, "snapshots"))
	    out->push_back(it);
	return 0;
}

/* The snapshots of @vol, or of every volume ("") in the daemon's order. */
int gather(csi_client &c, const std::string &vol, std::vector<csi_json> *keep,
	   std::vector<const cJSON *> *out)
{
	cJSON *raw = nullptr, *it;
	int err;

	if (!vol.empty())
		return gather_one(c, vol, keep, out);
	err = cs_client_volume_list(c.get(), &raw);
	keep->emplace_back(raw);
	if (err)
		return err;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(raw, "volumes"))
	{
		if ((err = gather_one(c, csi_jstr(it, "name"), keep, out)))
			return err;
	}
	return 0;
}

/* RFC 3339 UTC "2026-12-03T15:13:19Z" to seconds; 0 when unreadable. */
int64_t parse_time(const std::string &s)
{
	struct tm tm = {};
	const char *end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);

	return end ? (int64_t)timegm(&tm) : 0;
}

void snapshot_fill(const cJSON *s, pb::Snapshot *out)
{
	std::string vol = csi_jstr(s, "volume");

	out->set_snapshot_id(vol + "@" + csi_jstr(s, "name"));
	out->set_source_volume_id(vol);
	out->set_size_bytes((int64_t)csi_ju64(s, "referenced_bytes"));
	out->mutable_creation_time()->set_seconds(parse_time(csi_jstr(s, "created")));
	out->set_ready_to_use(true);
}

} /* namespace */

grpc::Status csi_controller::CreateSnapshot(grpc::ServerContext *,
					    const pb::CreateSnapshotRequest *req,
					    pb::CreateSnapshotResponse *resp)
{
	const std::string &vol = req->source_volume_id(), &name = req->name();
	std::vector<const cJSON *> all;
	std::vector<csi_json> keep;
	csi_json made;
	cJSON *raw = nullptr;
	csi_client c;
	grpc::Status st;

	if (!(st = csi_check_name(vol, "source_volume_id")).ok() ||
	    !(st = csi_check_name(name, "name")).ok())
		return st;
	if (!req->parameters().empty())
		return csi_fail(code::INVALID_ARGUMENT,
				"unknown parameter '" + req->parameters().begin()->first +
				    "' (snapshots take none)");
	std::lock_guard<std::mutex> hold(csi_ops);
	if (!(st = c.open(true)).ok())
		return st;
	int err = gather(c, "", &keep, &all);
	if (err)
		return csi_errno(err, "cannot list snapshots", c);
	for (const cJSON *s : all) {
		if (csi_jstr(s, "name") != name)
			continue;
		if (csi_jstr(s, "volume") != vol)
			return csi_fail(code::ALREADY_EXISTS,
					"snapshot name '" + name + "' is taken by a snapshot of volume '" +
					    csi_jstr(s, "volume") + "'");
		snapshot_fill(s, resp->mutable_snapshot());
		return grpc::Status::OK;
	}
	err = cs_client_snapshot_create(c.get(), vol.c_str(), name.c_str(), &raw);
	made.reset(raw);
	if (err)
		return csi_errno(err, "cannot snapshot volume '" + vol + "'", c);
	snapshot_fill(made.get(), resp->mutable_snapshot());
	csi_log("created snapshot %s@%s", vol.c_str(), name.c_str());
	return grpc::Status::OK;
}

grpc::Status csi_controller::DeleteSnapshot(grpc::ServerContext *,
					    const pb::DeleteSnapshotRequest *req,
					    pb::DeleteSnapshotResponse *)
{
	const std::string &id = req->snapshot_id();
	std::string vol, snap;
	csi_client c;

	if (id.empty())
		return csi_fail(code::INVALID_ARGUMENT, "snapshot_id is required");
	if (!csi_split_snapshot_id(id, &vol, &snap))
		return grpc::Status::OK; /* no snapshot can have that id */
	std::lock_guard<std::mutex> hold(csi_ops);
	grpc::Status st = c.open(true);
	if (!st.ok())
		return st;
	int err = cs_client_snapshot_delete(c.get(), vol.c_str(), snap.c_str());
	if (err == -ENOENT)
		return grpc::Status::OK;
	if (err)
		return csi_errno(err, "cannot delete snapshot '" + id + "'", c);
	csi_log("deleted snapshot %s", id.c_str());
	return grpc::Status::OK;
}

grpc::Status csi_controller::ListSnapshots(grpc::ServerContext *,
					   const pb::ListSnapshotsRequest *req,
					   pb::ListSnapshotsResponse *resp)
{
	std::string vol = req->source_volume_id(), want_vol, want_snap, next;
	std::vector<const cJSON *> all, hits;
	size_t first, count;
	std::vector<csi_json> keep;
	csi_client c;

	if (!req->snapshot_id().empty()) {
		if (!csi_split_snapshot_id(req->snapshot_id(), &want_vol, &want_snap) ||
		    (!vol.empty() && vol != want_vol))
			return grpc::Status::OK; /* no such snapshot: an empty list */
		vol = want_vol;
	}
	if (!vol.empty() && cs_client_name_check(vol.c_str()))
		return grpc::Status::OK;
	grpc::Status st = c.open(true);
	if (!st.ok())
		return st;
	int err = gather(c, vol, &keep, &all);
	if (err)
		return csi_errno(err, "cannot list snapshots", c);
	for (const cJSON *s : all)
		if (want_snap.empty() || csi_jstr(s, "name") == want_snap)
			hits.push_back(s);
	if (!(st = csi_page(req->starting_token(), req->max_entries(), hits.size(), &first, &count,
			    &next))
		 .ok())
		return st;
	for (size_t i = first; i < first + count; i++)
		snapshot_fill(hits[i], resp->add_entries()->mutable_snapshot());
	resp->set_next_token(next);
	return grpc::Status::OK;
}
