module github.com/freshmart/platform/scripts

go 1.26.8
