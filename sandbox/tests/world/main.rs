//! World tests: real PostgreSQL servers behind CNPG Clusters and the S3 server, driven only by
//! a plain kube client, `psql` and the S3 API (boto3 from the barman-cloud venv).
mod harness;

mod backup;
mod cluster;
mod lifecycle;
mod s3;
