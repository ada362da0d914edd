"""``Tables``: every table family's functions named as methods, for a store whose connection
takes the families' SQL (``SqliteStore``, and ``PostgresStore`` through its dialect).

A method here is the family function itself, its first argument the store (a ``Connection``),
so the SQL of each family exists once whichever database runs it.
"""

from __future__ import annotations

from node.store.sqlite import (
    apikeys,
    derived,
    erasures,
    local,
    log,
    records,
    replication,
)

__all__ = ["Tables"]


class Tables:
    """The table families as methods; a subclass brings the ``Connection`` they run on."""

    # -- the log ---------------------------------------------------------------------------------
    append = log.append
    add_key = log.add_key
    add_payload = log.add_payload
    add_checkpoint = log.add_checkpoint
    origins = log.origins
    size = log.size
    head = log.head
    entries = log.entries
    entry = log.entry
    entry_seqs_of_kind = log.entry_seqs_of_kind
    orphan_payload = log.orphan_payload
    all_tree_nodes = log.all_tree_nodes
    tree_nodes = log.tree_nodes
    public_key = log.public_key
    keys = log.keys
    checkpoints = log.checkpoints
    latest_checkpoint = log.latest_checkpoint
    checkpoint_at = log.checkpoint_at
    checkpoint_covering = log.checkpoint_covering

    # -- derived record state --------------------------------------------------------------------
    rebuild_derived = derived.rebuild_derived
    derive_into = derived.derive_into
    current_record = records.current_record
    current_records = records.current_records
    current_payload = records.current_payload
    current_payloads = records.current_payloads
    list_records = records.list_records
    count_records = records.count_records
    find_by_identifier = records.find_by_identifier
    status_counts = records.status_counts
    version_at = records.version_at
    own_versions = records.own_versions
    final_records = records.final_records
    agreement_entries = records.agreement_entries

    # -- erasures and purges ---------------------------------------------------------------------
    erasure_of = erasures.erasure_of
    erasures_of = erasures.erasures_of
    erased_among = erasures.erased_among
    erased_entries = erasures.erased_entries
    withheld = erasures.withheld
    pending_erasures = erasures.pending_erasures
    purges_answering = erasures.purges_answering
    purges_of = erasures.purges_of

    # -- replication -----------------------------------------------------------------------------
    add_views = replication.add_views
    view_of = replication.view_of
    views_of = replication.views_of
    view_at = replication.view_at
    views_by_identifier = replication.views_by_identifier
    views_held = replication.views_held
    views_count = replication.views_count
    view_agreements = replication.view_agreements
    views_by_record = replication.views_by_record
    count_views = replication.count_views
    all_views = replication.all_views
    add_cosignature = replication.add_cosignature
    cosignatures = replication.cosignatures
    all_cosignatures = replication.all_cosignatures
    add_fork = replication.add_fork
    forks = replication.forks
    frozen_origins = replication.frozen_origins
    resolve_forks = replication.resolve_forks
    delivery_cursor = replication.delivery_cursor
    set_delivery_cursor = replication.set_delivery_cursor

    # -- local state: access log, events, webhooks, API keys -------------------------------------
    append_access = local.append_access
    access_size = local.access_size
    access_hash = local.access_hash_at
    access_chain = local.access_chain
    access_rows = local.access_rows
    events = local.events
    last_event_id = local.last_event_id
    received_events = local.received_events
    add_webhook = local.add_webhook
    webhooks = local.webhooks
    remove_webhook = local.remove_webhook
    add_webhook_attempt = local.add_webhook_attempt
    webhook_attempts = local.webhook_attempts
    add_api_key = apikeys.add_api_key
    revoke_api_key = apikeys.revoke_api_key
    api_keys = apikeys.api_keys
    api_key = apikeys.api_key
