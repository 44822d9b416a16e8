//! World tests: real PostgreSQL servers behind CNPG Clusters and the S3 server, driven only by
//! a plain kube client, `psql` and the S3 API (boto3 from the barman-cloud venv).
mod argo_support;
mod harness;

mod argo_end;
mod argo_heal;
mod argo_options;
mod argo_prune;
mod argocd;
mod backup;
mod cli;
mod cluster;
mod lifecycle;
mod pg_jobs;
mod post_init_sql;
mod recovery;
mod recovery_support;
mod s3;
mod s3_faults;
mod scheduled;
mod shared;
mod synestra;
