//! Controllers that make objects *do* what they do in a real cluster: the CNPG operator, the
//! Job/Pod runner, Deployments, and (later) Argo CD.
