"""PostgreSQL only: audit_journal_append(), the one-statement writer of a journal entry.

It takes the journal lock, reads the chain head, hashes the entry's canonical JSON (built by
dataspace.audit.services, with the two slots prev_hash and seq left to fill) and inserts it: one
round trip instead of five (BEGIN, lock, SELECT, INSERT, COMMIT). A VOLATILE plpgsql function
takes a fresh snapshot for each statement, so the head it reads after the lock is the committed
one. verify_chain recomputes every hash in Python, so both writers must agree (tests check it).
Any change to JournalEntry's columns must be reflected here.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION audit_journal_append(
    lock_key bigint, async_commit boolean, canonical_head text, canonical_middle text, canonical_tail text,
    p_stream varchar, p_at timestamptz, p_user_id bigint, p_username varchar, p_organisation_id uuid,
    p_organisation_name varchar, p_licence_number varchar, p_client_id varchar, p_node varchar,
    p_action varchar, p_record_type varchar, p_record_ids jsonb, p_owner_id uuid, p_subject_person_id uuid,
    p_purpose varchar, p_decision varchar, p_reason_code varchar, p_reason text, p_details jsonb
) RETURNS TABLE (new_seq bigint, new_prev_hash varchar, new_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_seq bigint;
    last_hash varchar;
    next_hash varchar;
BEGIN
    IF async_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT e.seq, e.hash INTO last_seq, last_hash FROM audit_journalentry e ORDER BY e.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    next_hash := encode(
        sha256(convert_to(canonical_head || last_hash || canonical_middle || (last_seq + 1)::text || canonical_tail, 'UTF8')),
        'hex'
    );
    INSERT INTO audit_journalentry (
        seq, stream, at, user_id, username, organisation_id, organisation_name, licence_number, client_id, node,
        action, record_type, record_ids, owner_id, subject_person_id, purpose, decision, reason_code, reason,
        details, prev_hash, hash
    ) VALUES (
        last_seq + 1, p_stream, p_at, p_user_id, p_username, p_organisation_id, p_organisation_name,
        p_licence_number, p_client_id, p_node, p_action, p_record_type, p_record_ids, p_owner_id,
        p_subject_person_id, p_purpose, p_decision, p_reason_code, p_reason, p_details, last_hash, next_hash
    );
    RETURN QUERY SELECT last_seq + 1, last_hash, next_hash;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS audit_journal_append(bigint, boolean, text, text, text, varchar, timestamptz, bigint, varchar, uuid, varchar, varchar, varchar, varchar, varchar, varchar, jsonb, uuid, uuid, varchar, varchar, varchar, text, jsonb)"  # noqa: E501


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
