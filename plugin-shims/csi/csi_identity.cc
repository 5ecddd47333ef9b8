/*
 * csi_identity.cc - the Identity service: who the plugin is, what it
 * offers, and whether it is ready (the store's daemon answers).
 *
 * Probe never starts the daemon: it reports ready=false while none
 * answers, so a CO sees the node's storage is down. Every other call
 * starts the daemon when it needs one, as the other shims do.
 */
#include "csi.h"

grpc::Status csi_identity::GetPluginInfo(grpc::ServerContext *, const pb::GetPluginInfoRequest *,
					 pb::GetPluginInfoResponse *resp)
{
	resp->set_name(CSI_PLUGIN_NAME);
	resp->set_vendor_version(csi_config.version);
	(*resp->mutable_manifest())["store"] = csi_config.store;
	return grpc::Status::OK;
}

grpc::Status csi_identity::GetPluginCapabilities(grpc::ServerContext *,
						 const pb::GetPluginCapabilitiesRequest *,
						 pb::GetPluginCapabilitiesResponse *resp)
{
	using svc = pb::PluginCapability::Service;

	/* A volume lives in one node's store: the CO must place pods where
	 * the volume's topology segment says. */
	for (auto t : {svc::CONTROLLER_SERVICE, svc::VOLUME_ACCESSIBILITY_CONSTRAINTS})
		resp->add_capabilities()->mutable_service()->set_type(t);
	/* The quota is raised while the volume is mounted, nothing to do on
	 * the node first. */
	resp->add_capabilities()->mutable_volume_expansion()->set_type(
	    pb::PluginCapability::VolumeExpansion::ONLINE);
	return grpc::Status::OK;
}

grpc::Status csi_identity::Probe(grpc::ServerContext *, const pb::ProbeRequest *,
				 pb::ProbeResponse *resp)
{
	csi_client c;
	grpc::Status st = c.open(false);

	if (!st.ok())
		return st;
	resp->mutable_ready()->set_value(cs_client_ping(c.get()) != 0);
	return grpc::Status::OK;
}
