package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/freshmart/platform/broker/internal/auth"
)

// usersMain runs `freshmart-broker users add|remove|list`: it changes
// <data-dir>/users.json directly, under the same file lock the broker takes,
// so it works whether or not the broker is running; a running broker sees
// the change at the next authentication (it re-reads the file when its size
// or modification time changes). It returns the exit code.
//
//	freshmart-broker users add [--data-dir D] [--iterations N] [--password P] NAME   (password from stdin unless --password)
//	freshmart-broker users remove [--data-dir D] NAME
//	freshmart-broker users list [--data-dir D]
func usersMain(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if err := runUsers(args, stdin, stdout, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "freshmart-broker users:", err)
		return 2
	}
	return 0
}

func runUsers(args []string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New("want add, remove or list")
	}
	cmd, args := args[0], args[1:]
	dataDef := getenv("BROKER_DATA_DIR")
	if dataDef == "" {
		dataDef = "./data/broker"
	}
	fs := flag.NewFlagSet("users "+cmd, flag.ContinueOnError)
	dataDir := fs.String("data-dir", dataDef, "the broker's data directory (env BROKER_DATA_DIR)")
	var iterations *int
	var password *string
	if cmd == "add" {
		iterations = fs.Int("iterations", auth.DefaultIterations, fmt.Sprintf("SCRAM iterations (%d..%d)", auth.MinIterations, auth.MaxIterations))
		password = fs.String("password", "", "the password; default: the first line of stdin")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	users, err := auth.OpenUsers(*dataDir)
	if err != nil {
		return err
	}
	switch cmd {
	case "add":
		if fs.NArg() != 1 {
			return errors.New("add takes one user name")
		}
		pw := *password
		if pw == "" {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read password from stdin: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if pw == "" {
			return errors.New("empty password (give --password or a line on stdin)")
		}
		if err := users.SetPassword(fs.Arg(0), pw, *iterations); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: SCRAM-SHA-256 and SCRAM-SHA-512 credentials stored (%d iterations); PLAIN checks the same\n", fs.Arg(0), *iterations)
	case "remove":
		if fs.NArg() != 1 {
			return errors.New("remove takes one user name")
		}
		if err := users.Delete(fs.Arg(0), ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s removed\n", fs.Arg(0))
	case "list":
		if fs.NArg() != 0 {
			return errors.New("list takes no arguments")
		}
		list, err := users.List()
		if err != nil {
			return err
		}
		for _, u := range list {
			var ms []string
			for _, m := range auth.Mechanisms {
				if it, ok := u.Mechanisms[m]; ok {
					ms = append(ms, fmt.Sprintf("%s(%d)", m, it))
				}
			}
			fmt.Fprintf(stdout, "%s\t%s\n", u.Name, strings.Join(ms, " "))
		}
	default:
		return fmt.Errorf("unknown command %q: want add, remove or list", cmd)
	}
	return nil
}
