module github.com/entra-purge/entra-purge

go 1.26.8
