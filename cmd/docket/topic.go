package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/scheduler/api"
)

func newTopicCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create topics, subscribe queues and HTTP(S) endpoints to them and publish",
		Long: "A topic delivers each message published to it to every subscribed queue and HTTP(S)\n" +
			"endpoint whose filter policy (SNS's) the message passes, raw or in SNS's JSON envelope,\n" +
			"all at once: after a crash a publish is in every matching queue (and endpoint's outbox)\n" +
			"or in none.",
	}
	cmd.AddCommand(newTopicCreateCommand(c), newTopicListCommand(c), newTopicStatusCommand(c),
		newTopicDeleteCommand(c), newTopicPublishCommand(c), newTopicSubscribeCommand(c), newTopicConfirmCommand(c), newTopicUnsubscribeCommand(c))
	return cmd
}

func newTopicCreateCommand(c *cli) *cobra.Command {
	attrs, tags := stringMap{}, stringMap{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic, or update the attributes and tags of the one of that name",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.client(cmd).CreateTopic(cmd.Context(), api.TopicSettings{Name: args[0], Attributes: attrs, Tags: tags})
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, t, func(w io.Writer) { fmt.Fprintf(w, "Topic %s\t%s\n", t.Name, t.ARN) })
		},
	}
	cmd.Flags().Var(attrs, "attribute", "a topic attribute `key=value`, e.g. DisplayName=Orders (repeatable)")
	cmd.Flags().Var(tags, "tag", "a tag `key=value` (repeatable)")
	return cmd
}

func newTopicListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := c.client(cmd).Topics(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, ts, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tSUBSCRIPTIONS\tARN")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%d\t%s\n", t.Name, t.Subscriptions, t.ARN)
				}
			})
		},
	}
}

func newTopicStatusCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show a topic and its subscriptions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := c.client(cmd)
			t, err := cl.Topic(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			subs, err := cl.Subscriptions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v := struct {
				api.Topic
				SubscriptionList []api.Subscription `json:"subscription_list"`
			}{*t, subs}
			return output(cmd, c.stdout, v, func(w io.Writer) {
				fmt.Fprintf(w, "Name\t%s\nARN\t%s\n", t.Name, t.ARN)
				for _, k := range slices.Sorted(maps.Keys(t.Attributes)) {
					fmt.Fprintf(w, "Attribute %s\t%s\n", k, t.Attributes[k])
				}
				for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
					fmt.Fprintf(w, "Tag %s\t%s\n", k, t.Tags[k])
				}
				fmt.Fprintln(w, "\nSUBSCRIPTION\tPROTOCOL\tENDPOINT\tDELIVERY\tFILTER")
				for _, s := range subs {
					delivery := "envelope"
					if s.Raw {
						delivery = "raw"
					}
					if s.Pending {
						delivery += " (pending)"
					}
					filter := "-"
					if s.FilterPolicy != "" {
						filter = s.FilterPolicy
						if s.FilterScope == "MessageBody" {
							filter = "body: " + filter
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Protocol, s.Endpoint, delivery, filter)
				}
			})
		},
	}
}

func newTopicDeleteCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and its subscriptions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client(cmd).DeleteTopic(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Topic %s deleted\n", args[0])
			return nil
		},
	}
}

func newTopicPublishCommand(c *cli) *cobra.Command {
	var (
		file, subject string
		attrs         = stringMap{}
		typed         = stringMap{}
	)
	cmd := &cobra.Command{
		Use:   "publish NAME [MESSAGE]",
		Short: "Publish a message: the MESSAGE argument, a --file, or stdin",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := c.messageBody(args[1:], file, "message")
			if err != nil {
				return err
			}
			req := api.PublishRequest{Message: string(body), Subject: subject, Attributes: map[string]api.MessageAttribute{}}
			for k, v := range attrs {
				req.Attributes[k] = api.MessageAttribute{Type: "String", Value: v}
			}
			for k, v := range typed {
				typ, val, ok := strings.Cut(v, ":")
				if !ok {
					return fmt.Errorf("--typed-attribute %s=%s: want name=TYPE:VALUE, e.g. total=Number:12.5", k, v)
				}
				req.Attributes[k] = api.MessageAttribute{Type: typ, Value: val}
			}
			res, err := c.client(cmd).Publish(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, res, func(w io.Writer) {
				fmt.Fprintf(w, "Published %s\tto %d subscriptions (%d filtered out)\n", res.MessageID, res.Delivered, res.Filtered)
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the message from this file")
	cmd.Flags().StringVar(&subject, "subject", "", "the message's subject")
	cmd.Flags().Var(attrs, "attribute", "a String attribute `name=value` (repeatable)")
	cmd.Flags().Var(typed, "typed-attribute", "an attribute `name=TYPE:VALUE` of type String, Number, Binary (base64) or String.Array (repeatable)")
	return cmd
}

func newTopicSubscribeCommand(c *cli) *cobra.Command {
	var (
		queueName, endpoint, function, policy string
		policyFile                            string
		deliveryPolicy, deadLetter            string
		raw, body                             bool
	)
	cmd := &cobra.Command{
		Use:   "subscribe NAME (--queue QUEUE | --function FUNCTION | --endpoint URL)",
		Short: "Subscribe a queue, a function or an HTTP(S) endpoint to a topic, perhaps with a filter policy",
		Long: "Subscribe a queue of this server (--queue), a function of it (--function: invoked with\n" +
			"Lambda's SNS event) or an HTTP(S) endpoint (--endpoint) to a topic.\n" +
			"An endpoint is sent a signed SubscriptionConfirmation and receives notifications once it\n" +
			"visits its SubscribeURL (or `docket topic confirm` is given its token). Failed deliveries\n" +
			"are retried as --delivery-policy says (SNS's JSON; default three retries 20 s apart) and\n" +
			"then moved to --dead-letter-queue, or dropped.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := btoi(queueName != "") + btoi(endpoint != "") + btoi(function != ""); n != 1 {
				return fmt.Errorf("give one of --queue, --function and --endpoint")
			}
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				policy = string(b)
			}
			req := api.SubscribeRequest{Protocol: "sqs", Endpoint: queueName, Raw: raw, FilterPolicy: policy,
				DeliveryPolicy: deliveryPolicy, DeadLetterQueue: deadLetter}
			if function != "" {
				req.Protocol, req.Endpoint = "lambda", function
			}
			if endpoint != "" {
				req.Protocol, req.Endpoint = "https", endpoint
				if strings.HasPrefix(endpoint, "http://") {
					req.Protocol = "http"
				}
			}
			if body {
				req.FilterScope = "MessageBody"
			}
			s, err := c.client(cmd).Subscribe(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, s, func(w io.Writer) {
				if !s.Pending {
					fmt.Fprintf(w, "Subscription %s\t%s %s to topic %s\n", s.ID, s.Protocol, s.Endpoint, s.Topic)
					return
				}
				fmt.Fprintf(w, "Subscription %s\t%s to topic %s, pending its confirmation\n", s.ID, s.Endpoint, s.Topic)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&queueName, "queue", "", "the queue that receives the topic's messages")
	f.StringVar(&endpoint, "endpoint", "", "the http:// or https:// URL notifications are POSTed to")
	f.StringVar(&function, "function", "", "the function (name or ARN) invoked with each notification")
	f.BoolVar(&raw, "raw", false, "deliver messages as published, not in SNS's JSON envelope")
	f.StringVar(&policy, "filter-policy", "", "an SNS filter policy (JSON), e.g. '{\"kind\":[\"paid\"]}'")
	f.StringVar(&policyFile, "filter-policy-file", "", "read the filter policy from this file")
	f.BoolVar(&body, "filter-body", false, "apply the filter policy to the message body (JSON) instead of its attributes")
	f.StringVar(&deliveryPolicy, "delivery-policy", "", "an endpoint's SNS delivery policy (JSON): healthyRetryPolicy, throttlePolicy, requestPolicy")
	f.StringVar(&deadLetter, "dead-letter-queue", "", "the queue that takes an endpoint's notifications once their retries are spent")
	return cmd
}

func newTopicConfirmCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm NAME TOKEN",
		Short: "Confirm an HTTP(S) subscription with the token of its SubscriptionConfirmation",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.client(cmd).ConfirmSubscription(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, s, func(w io.Writer) {
				fmt.Fprintf(w, "Subscription %s\t%s to topic %s confirmed\n", s.ID, s.Endpoint, s.Topic)
			})
		},
	}
}

func newTopicUnsubscribeCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe SUBSCRIPTION",
		Short: "Delete a subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.client(cmd).Unsubscribe(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Subscription %s deleted\n", args[0])
			return nil
		},
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
