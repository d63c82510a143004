-- Table for scripts/bench-side.sh's PK lookup workload: 10,000 rows,
-- looked up by a random id with SELECT v FROM bench_side_kv WHERE id = $1.
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_side_kv;
CREATE TABLE bench_side_kv (
	id		int PRIMARY KEY,
	v		text NOT NULL
);
INSERT INTO bench_side_kv SELECT g, 'value-' || g FROM generate_series(1, 10000) g;
VACUUM ANALYZE bench_side_kv;
