"""Row -> entity conversion, one function per entity."""

from __future__ import annotations

from cygnet.manager import entities as e
from cygnet.manager.store import models as m


def domain(row: m.DomainRow) -> e.Domain:
    return e.Domain(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        modified_at=row.modified_at,
        total_resource_slots=dict(row.total_resource_slots or {}),
        allowed_vfolder_hosts=dict(row.allowed_vfolder_hosts or {}),
        allowed_docker_registries=list(row.allowed_docker_registries or []),
        integration_id=row.integration_id,
    )


def project(row: m.ProjectRow) -> e.Project:
    return e.Project(
        id=row.id,
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        modified_at=row.modified_at,
        integration_id=row.integration_id,
        domain_name=row.domain_name,
        total_resource_slots=dict(row.total_resource_slots or {}),
        allowed_vfolder_hosts=dict(row.allowed_vfolder_hosts or {}),
        resource_policy=row.resource_policy,
        type=row.type,
    )


def user(row: m.UserRow, groups: list[e.ProjectRef] | None = None) -> e.User:
    return e.User(
        uuid=row.uuid,
        username=row.username,
        email=row.email,
        need_password_change=row.need_password_change,
        full_name=row.full_name,
        description=row.description,
        status=e.UserStatus(row.status),
        status_info=row.status_info,
        created_at=row.created_at,
        modified_at=row.modified_at,
        domain_name=row.domain_name,
        role=e.UserRole(row.role),
        allowed_client_ip=list(row.allowed_client_ip) if row.allowed_client_ip else None,
        totp_activated=row.totp_activated,
        sudo_session_enabled=row.sudo_session_enabled,
        main_access_key=row.main_access_key,
        resource_policy=row.resource_policy,
        container_uid=row.container_uid,
        container_main_gid=row.container_main_gid,
        container_gids=list(row.container_gids) if row.container_gids else None,
        groups=groups or [],
    )


def keypair(row: m.KeyPairRow) -> e.KeyPair:
    return e.KeyPair(
        access_key=row.access_key,
        secret_key=row.secret_key,
        user_id=row.user_id,
        user=row.user,
        is_active=row.is_active,
        is_admin=row.is_admin,
        created_at=row.created_at,
        modified_at=row.modified_at,
        last_used=row.last_used,
        rate_limit=row.rate_limit,
        num_queries=row.num_queries,
        resource_policy=row.resource_policy,
    )


def keypair_resource_policy(row: m.KeyPairResourcePolicyRow) -> e.KeyPairResourcePolicy:
    return e.KeyPairResourcePolicy(
        name=row.name,
        created_at=row.created_at,
        default_for_unspecified=e.DefaultForUnspecified(row.default_for_unspecified),
        total_resource_slots=dict(row.total_resource_slots or {}),
        max_session_lifetime=row.max_session_lifetime,
        max_concurrent_sessions=row.max_concurrent_sessions,
        max_concurrent_sftp_sessions=row.max_concurrent_sftp_sessions,
        max_containers_per_session=row.max_containers_per_session,
        idle_timeout=row.idle_timeout,
        allowed_vfolder_hosts=dict(row.allowed_vfolder_hosts or {}),
        max_pending_session_count=row.max_pending_session_count,
        max_pending_session_resource_slots=(
            dict(row.max_pending_session_resource_slots)
            if row.max_pending_session_resource_slots is not None
            else None
        ),
    )


def user_resource_policy(row: m.UserResourcePolicyRow) -> e.UserResourcePolicy:
    return e.UserResourcePolicy(
        name=row.name,
        created_at=row.created_at,
        max_vfolder_count=row.max_vfolder_count,
        max_quota_scope_size=row.max_quota_scope_size,
        max_session_count_per_model_session=row.max_session_count_per_model_session,
        max_customized_image_count=row.max_customized_image_count,
    )


def project_resource_policy(row: m.ProjectResourcePolicyRow) -> e.ProjectResourcePolicy:
    return e.ProjectResourcePolicy(
        name=row.name,
        created_at=row.created_at,
        max_vfolder_count=row.max_vfolder_count,
        max_quota_scope_size=row.max_quota_scope_size,
        max_network_count=row.max_network_count,
    )


def resource_group(row: m.ResourceGroupRow) -> e.ResourceGroup:
    return e.ResourceGroup(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        is_public=row.is_public,
        created_at=row.created_at,
        wsproxy_addr=row.wsproxy_addr,
        wsproxy_api_token=row.wsproxy_api_token,
        driver=row.driver,
        driver_opts=dict(row.driver_opts or {}),
        scheduler=row.scheduler,
        scheduler_opts=dict(row.scheduler_opts or {}),
        use_host_network=row.use_host_network,
    )


def agent(row: m.AgentRow) -> e.Agent:
    return e.Agent(
        id=row.id,
        status=row.status,
        status_changed=row.status_changed,
        region=row.region,
        resource_group=row.scaling_group,
        schedulable=row.schedulable,
        available_slots=dict(row.available_slots or {}),
        occupied_slots=dict(row.occupied_slots or {}),
        address=row.addr,
        architecture=row.architecture,
        version=row.version,
        runtime=row.runtime,
        slot_types=dict(row.slot_types or {}),
        compute_plugins=dict(row.compute_plugins or {}),
        hardware_metadata=dict(row.hardware_metadata or {}),
        images=list(row.images or []),
        live_stat=dict(row.live_stat or {}),
        first_contact=row.first_contact,
        lost_at=row.lost_at,
        last_heartbeat=row.last_heartbeat,
    )
