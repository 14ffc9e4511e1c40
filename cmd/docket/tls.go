package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/pki"
)

// The files docket tls writes, in --dir.
const (
	caCertFile = "docket-ca.pem"
	caKeyFile  = "docket-ca-key.pem"
)

func newTLSCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make a CA and certificates for mutual TLS between servers, agents and users",
		Long: "Servers and agents take --tls-cert, --tls-key and --tls-ca; the CLI takes\n" +
			"--ca-cert and perhaps --client-cert and --client-key (or $DOCKET_CACERT,\n" +
			"$DOCKET_CLIENT_CERT, $DOCKET_CLIENT_KEY). A certificate's role (server, agent,\n" +
			"cli) is a name in it, so one role's certificate cannot act as another's: only\n" +
			"agents' certificates may call the agents' routes.",
	}
	ca := &cobra.Command{Use: "ca", Short: "Make the certificate authority"}
	ca.AddCommand(newTLSCACreateCommand(c))
	cert := &cobra.Command{Use: "cert", Short: "Make certificates signed by the CA"}
	cert.AddCommand(newTLSCertCreateCommand(c))
	cmd.AddCommand(ca, cert)
	return cmd
}

// writeNew writes the files, refusing to overwrite any of them: a CA's
// key overwritten by mistake orphans every certificate it signed.
func writeNew(files map[string][]byte, modes map[string]os.FileMode) error {
	for path := range files {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: remove it first, or use --dir", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for path, b := range files {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, modes[path])
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
			return err
		}
	}
	return nil
}

func newTLSCACreateCommand(c *cli) *cobra.Command {
	var dir, name string
	var days int
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a new CA: " + caCertFile + " and " + caKeyFile,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return errors.New("--days must be at least 1")
			}
			now := time.Now()
			cert, key, err := pki.NewCA(name, now.Add(-time.Minute), now.Add(time.Duration(days)*24*time.Hour))
			if err != nil {
				return err
			}
			cp, kp := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
			if err := writeNew(map[string][]byte{cp: cert, kp: key}, map[string]os.FileMode{cp: 0o644, kp: 0o600}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "==> CA certificate written to %s\n==> CA key written to %s (keep it secret; it signs certificates)\n", cp, kp)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write in")
	cmd.Flags().StringVar(&name, "name", "Docket CA", "the CA's common name")
	cmd.Flags().IntVar(&days, "days", int(pki.DefaultCAValidity/(24*time.Hour)), "days the CA is valid")
	return cmd
}

func newTLSCertCreateCommand(c *cli) *cobra.Command {
	var dir, caFile, keyFile string
	var server, agentRole, cliRole bool
	var days int
	var dns []string
	var ips []net.IP
	cmd := &cobra.Command{
		Use:   "create --server|--agent|--cli",
		Short: "Write a certificate and its key for a server, an agent or a CLI user",
		Long: "Writes docket-server.pem and docket-server-key.pem (or docket-agent…, docket-cli…),\n" +
			"signed by the CA in --ca and --ca-key. Servers' certificates name server.docket,\n" +
			"localhost, 127.0.0.1 and ::1, and whatever --dns and --ip add.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var role pki.Role
			n := 0
			for r, on := range map[pki.Role]bool{pki.RoleServer: server, pki.RoleAgent: agentRole, pki.RoleCLI: cliRole} {
				if on {
					role, n = r, n+1
				}
			}
			if n != 1 {
				return errors.New("give one of --server, --agent and --cli")
			}
			if days < 1 {
				return errors.New("--days must be at least 1")
			}
			if caFile == "" {
				caFile = filepath.Join(dir, caCertFile)
			}
			if keyFile == "" {
				keyFile = filepath.Join(dir, caKeyFile)
			}
			ca, err := pki.LoadCA(caFile, keyFile)
			if err != nil {
				return fmt.Errorf("%w (make a CA with docket tls ca create)", err)
			}
			now := time.Now()
			cert, key, err := ca.Issue(pki.CertRequest{Role: role, DNSNames: dns, IPs: ips,
				NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Duration(days) * 24 * time.Hour)})
			if err != nil {
				return err
			}
			cp := filepath.Join(dir, "docket-"+string(role)+".pem")
			kp := filepath.Join(dir, "docket-"+string(role)+"-key.pem")
			if err := writeNew(map[string][]byte{cp: cert, kp: key}, map[string]os.FileMode{cp: 0o644, kp: 0o600}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "==> %s certificate written to %s\n==> its key written to %s\n", role, cp, kp)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&server, "server", false, "a server's certificate")
	f.BoolVar(&agentRole, "agent", false, "an agent's certificate")
	f.BoolVar(&cliRole, "cli", false, "a CLI user's certificate")
	f.StringVar(&dir, "dir", ".", "directory to write in (and to find the CA in)")
	f.StringVar(&caFile, "ca", "", "the CA's certificate (default "+caCertFile+" in --dir)")
	f.StringVar(&keyFile, "ca-key", "", "the CA's key (default "+caKeyFile+" in --dir)")
	f.IntVar(&days, "days", int(pki.DefaultCertValidity/(24*time.Hour)), "days the certificate is valid (at most the CA's)")
	f.StringSliceVar(&dns, "dns", nil, "further DNS names the holder answers to (repeatable)")
	f.IPSliceVar(&ips, "ip", nil, "further IP addresses the holder answers on (repeatable)")
	return cmd
}
