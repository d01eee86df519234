-- Organisations: every party that holds tokens. The name is the identifier
-- (a lowercase slug) used in URLs and in the token's org claim.
CREATE TABLE orgs (
    name        text PRIMARY KEY
                CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    kind        text NOT NULL
                CHECK (kind IN ('OPERATOR', 'HOLDER', 'PUBLIC_AUTHORITY', 'REGULATOR')),
    country     text NOT NULL DEFAULT '',
    contact     text NOT NULL DEFAULT '',
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

-- The platform operator exists from the first start.
INSERT INTO orgs (name, kind, contact) VALUES ('operator', 'OPERATOR', '');

-- Every fiduciad caches org state; any change is broadcast so that all
-- processes drop their cached copy (orgs.c listens on this channel).
CREATE FUNCTION orgs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fiducia_orgs', OLD.name);
    RETURN NULL;
END $$;

CREATE TRIGGER orgs_changed AFTER UPDATE OR DELETE ON orgs
    FOR EACH ROW EXECUTE FUNCTION orgs_notify();
