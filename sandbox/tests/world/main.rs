//! World tests: the simulated Argo CD controller, the S3 server and its faults, and the sandbox's
//! command line, driven only by a plain kube client and the S3 API (boto3 from the barman venv).
mod argo_support;
mod harness;

mod argo_end;
mod argo_heal;
mod argo_options;
mod argo_prune;
mod argocd;
mod cli;
mod s3;
mod s3_faults;
