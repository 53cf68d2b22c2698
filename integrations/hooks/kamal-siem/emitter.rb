# frozen_string_literal: true
#
# kamal-siem hook emitter: records every Kamal hook run as one event of kamal-siem's `run` log source.
#
# Kamal runs hooks on the deployer's machine (a laptop or a CI runner) with KAMAL_* variables in the
# environment, and hands ALL the app's secrets to pre-connect, pre-deploy and post-deploy as
# environment variables too. This program:
#   1. reads an allowlist of variable NAMES (Kamal's documented KAMAL_* variables, a CI system's
#      build variables) and never writes the value of any other variable; every value it writes is
#      masked once more (secret values it knows of, credentials in URLs, token shapes);
#   2. adds git context, the OS user and host, CI detection and lock-bypass detection;
#   3. writes the event as an OTLP/JSON logs export request (the shape of Kamal 2.12's own `output:
#      otel:` records) to a local spool, chained by SHA-256 to the event before it;
#   4. delivers everything still undelivered in the spool to the configured destinations (Splunk HEC,
#      Elasticsearch _bulk, OTLP/HTTP, syslog over TLS), with retries; what fails stays in the spool
#      for the next run.
#
# Ruby's standard library only (Ruby 2.7 to 3.4): Kamal deployer machines have Ruby, not our gems.
# See ../README.md (integrations/hooks/README.md in kamal-siem) for configuration and the event format.

require "digest"
require "etc"
require "fileutils"
require "json"
require "net/http"
require "openssl"
require "rbconfig"
require "securerandom"
require "socket"
require "time"
require "uri"
require "yaml"

module KamalSiem
  VERSION = "0.1.0"

  HOOKS = %w[pre-connect pre-build pre-deploy post-deploy pre-app-boot post-app-boot
             pre-proxy-reboot post-proxy-reboot docker-setup].freeze
  # the hooks Kamal 2.x hands all secrets to (`secrets: true` in Kamal's run_hook calls)
  SECRET_HOOKS = %w[pre-connect pre-deploy post-deploy].freeze
  CHAINED_SUFFIX = ".kamal-siem-chained"

  # What Kamal passes to hooks (Kamal::Tags#env plus the run_hook details), in Kamal's order.
  KAMAL_VARIABLES = %w[KAMAL_RECORDED_AT KAMAL_PERFORMER KAMAL_DESTINATION KAMAL_VERSION
                       KAMAL_SERVICE_VERSION KAMAL_SERVICE KAMAL_HOSTS KAMAL_ROLES KAMAL_LOCK
                       KAMAL_COMMAND KAMAL_SUBCOMMAND KAMAL_RUNTIME].freeze

  # The build variables of the CI systems we recognise. None of them is a credential (CI_JOB_TOKEN,
  # GITHUB_TOKEN, BUILDKITE_AGENT_ACCESS_TOKEN, CIRCLE_OIDC_TOKEN ... are deliberately absent).
  CI_VARIABLES = %w[
    CI
    GITHUB_ACTIONS GITHUB_SERVER_URL GITHUB_REPOSITORY GITHUB_RUN_ID GITHUB_RUN_ATTEMPT GITHUB_WORKFLOW
    GITHUB_JOB GITHUB_ACTOR GITHUB_TRIGGERING_ACTOR GITHUB_EVENT_NAME GITHUB_REF_NAME
    GITLAB_CI CI_PROJECT_PATH CI_PIPELINE_ID CI_PIPELINE_URL CI_PIPELINE_SOURCE CI_JOB_NAME CI_JOB_ID
    CI_JOB_URL GITLAB_USER_LOGIN CI_COMMIT_REF_NAME
    BUILDKITE BUILDKITE_PIPELINE_SLUG BUILDKITE_BUILD_ID BUILDKITE_BUILD_URL BUILDKITE_BUILD_NUMBER
    BUILDKITE_LABEL BUILDKITE_JOB_ID BUILDKITE_BUILD_CREATOR BUILDKITE_BUILD_CREATOR_EMAIL BUILDKITE_SOURCE
    BUILDKITE_BRANCH
    CIRCLECI CIRCLE_PROJECT_USERNAME CIRCLE_PROJECT_REPONAME CIRCLE_WORKFLOW_ID CIRCLE_JOB CIRCLE_BUILD_NUM
    CIRCLE_BUILD_URL CIRCLE_USERNAME CIRCLE_BRANCH
    JENKINS_URL BUILD_ID BUILD_NUMBER BUILD_TAG BUILD_URL JOB_NAME BUILD_USER_ID GIT_BRANCH
  ].freeze

  ALLOWED_VARIABLES = (KAMAL_VARIABLES + CI_VARIABLES).freeze

  # Our own settings (names and switches, never credentials).
  SETTINGS_VARIABLES = %w[KAMAL_SIEM_CONFIG KAMAL_SIEM_SPOOL_DIR KAMAL_SIEM_FAIL_ON_DELIVERY_ERROR
                          KAMAL_SIEM_NO_DELIVERY].freeze

  REDACTED = "[REDACTED]"
  ZERO_HASH = ("0" * 64).freeze
  MAX_STRING = 8192
  MIN_SECRET_VALUE = 8

  # Environment variable names whose values are treated as secrets for masking (the value is never
  # written anyway, unless it also turns up inside an allowed value).
  SECRET_NAME = /PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|MASTER_?KEY|
                 CREDENTIAL|SESSION|COOKIE|AUTH|SIGNING|_KEY\z|\AKEY\z|_DSN\z|DATABASE_URL|_PAT\z/xi.freeze

  # Token shapes masked wherever they appear (in addition to parsers/redaction.yml's rules).
  TOKEN_SHAPES = [
    /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/,
    /\bgithub_pat_[A-Za-z0-9_]{20,}/,
    /\bglpat-[A-Za-z0-9_-]{20,}/,
    /\bxox[abposr]-[A-Za-z0-9-]{10,}/,
    /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/,
    /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}/,
    /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
    /-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\z)/m
  ].freeze

  class Error < StandardError; end

  # Text helpers: every string we write is valid UTF-8 and bounded.
  module Text
    module_function

    def clean(value, limit = MAX_STRING)
      s = value.to_s.dup
      s.force_encoding(Encoding::UTF_8)
      s = s.scrub("\uFFFD") unless s.valid_encoding?
      s = "#{s[0, limit]}...[truncated]" if s.length > limit
      s
    end

    # A file's content as UTF-8 whatever the locale (LANG=C makes Ruby read US-ASCII).
    def read(path)
      clean(File.binread(path), Float::INFINITY)
    end

    def now_ns
      Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)
    end

    def iso8601_ns(ns)
      Time.at(ns / 1_000_000_000, ns % 1_000_000_000, :nsec).utc.strftime("%Y-%m-%dT%H:%M:%S.%6NZ")
    end

    def uuid_v7(ms = now_ns / 1_000_000)
      bytes = [(ms >> 40) & 0xff, (ms >> 32) & 0xff, (ms >> 24) & 0xff, (ms >> 16) & 0xff, (ms >> 8) & 0xff, ms & 0xff]
      bytes.concat(SecureRandom.random_bytes(10).bytes)
      bytes[6] = 0x70 | (bytes[6] & 0x0f)
      bytes[8] = 0x80 | (bytes[8] & 0x3f)
      hex = bytes.pack("C*").unpack1("H*")
      "#{hex[0, 8]}-#{hex[8, 4]}-#{hex[12, 4]}-#{hex[16, 4]}-#{hex[20, 12]}"
    end
  end

  # The canonical JSON serialization the hash chain is computed over (and the spool is written in):
  # object keys sorted by code point, no whitespace, strings escaped minimally (\" \\ \b \f \n \r \t,
  # other C0 controls as \u00xx in lowercase hex), everything else raw UTF-8; integers, true, false,
  # null; no floats. converter/verify_chain.py implements the same.
  module Canonical
    ESCAPES = { '"' => '\\"', "\\" => "\\\\", "\b" => "\\b", "\f" => "\\f", "\n" => "\\n", "\r" => "\\r", "\t" => "\\t" }.freeze

    module_function

    def dump(value)
      out = String.new(encoding: Encoding::UTF_8)
      write(value, out)
      out
    end

    def write(value, out)
      case value
      when Hash
        out << "{"
        value.keys.map(&:to_s).sort.each_with_index do |key, i|
          out << "," if i.positive?
          string(key, out)
          out << ":"
          write(value.key?(key) ? value[key] : value[key.to_sym], out)
        end
        out << "}"
      when Array
        out << "["
        value.each_with_index do |item, i|
          out << "," if i.positive?
          write(item, out)
        end
        out << "]"
      when String then string(value, out)
      when Integer then out << value.to_s
      when true then out << "true"
      when false then out << "false"
      when nil then out << "null"
      else raise Error, "no canonical form for #{value.class}"
      end
    end

    def string(value, out)
      s = Text.clean(value, Float::INFINITY)
      out << '"' << s.gsub(/["\\\u0000-\u001f]/) { |c| ESCAPES[c] || format("\\u%04x", c.ord) } << '"'
    end

    def sha256(value)
      Digest::SHA256.hexdigest(dump(value))
    end
  end

  # OTLP/JSON AnyValue and attribute helpers.
  module Otlp
    # A double attribute holding a whole number (kept integral so the canonical form has no floats).
    Double = Struct.new(:number)

    module_function

    def value(v)
      case v
      when Double then { "doubleValue" => v.number }
      when String then { "stringValue" => v }
      when true, false then { "boolValue" => v }
      when Integer then { "intValue" => v.to_s }
      when Array then { "arrayValue" => { "values" => v.map { |item| value(item) } } }
      when Hash then { "kvlistValue" => { "values" => v.map { |k, item| attribute(k, item) } } }
      else { "stringValue" => v.to_s }
      end
    end

    def attribute(key, v)
      { "key" => key.to_s, "value" => value(v) }
    end

    # [[key, value], ...] -> attributes, leaving out nil and empty values
    def attributes(pairs)
      pairs.reject { |_k, v| v.nil? || (v.respond_to?(:empty?) && v.empty?) }.map { |k, v| attribute(k, v) }
    end

    def record_attributes(request)
      request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
    end

    def plain(any)
      return nil unless any.is_a?(Hash)

      kind, inner = any.first
      case kind
      when "stringValue", "boolValue", "doubleValue" then inner
      when "intValue" then inner.to_i
      when "arrayValue" then (inner["values"] || []).map { |item| plain(item) }
      when "kvlistValue" then (inner["values"] || []).map { |a| [a["key"], plain(a["value"])] }.to_h
      end
    end

    def record_attribute(request, key)
      attrs = record_attributes(request)
      found = attrs.find { |a| a["key"] == key }
      found && plain(found["value"])
    rescue StandardError
      nil
    end
  end

  # Masks secret values: values of secret-looking variables and of the app's Kamal secrets (known
  # by name from .kamal/secrets*), credentials in URLs, token shapes, and parsers/redaction.yml's
  # rules (copied to redaction.json beside this file by `kamal-siem hooks install`).
  class Masker
    def initialize(env, extra_secret_names = [], rules_path = nil)
      names = extra_secret_names.map(&:to_s)
      values = []
      env.each do |name, value|
        next if value.nil? || ALLOWED_VARIABLES.include?(name) || SETTINGS_VARIABLES.include?(name)

        v = Text.clean(value, Float::INFINITY)
        url_password = v[%r{\A[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@}, 1]
        next unless names.include?(name) || SECRET_NAME.match?(name) || url_password

        values << v if v.length >= MIN_SECRET_VALUE
        values << url_password if url_password && url_password.length >= MIN_SECRET_VALUE
      end
      @values = values.uniq.sort_by { |v| -v.length }
      @rules = load_rules(rules_path)
    end

    def text(value)
      s = Text.clean(value)
      @values.each { |secret| s = s.gsub(secret, REDACTED) if s.include?(secret) }
      @rules.each do |rx|
        s = s.gsub(rx) do
          m = Regexp.last_match
          "#{m[:before]}#{REDACTED}#{m[:after]}"
        end
      end
      TOKEN_SHAPES.each { |rx| s = s.gsub(rx, REDACTED) }
      s
    end

    # Masks every stringValue of an OTLP request in place.
    def request!(node)
      case node
      when Hash
        node.each do |key, value|
          if key == "stringValue" && value.is_a?(String)
            node[key] = text(value)
          else
            request!(value)
          end
        end
      when Array then node.each { |item| request!(item) }
      end
      node
    end

    private

    def load_rules(path)
      return [] unless path && File.file?(path)

      data = JSON.parse(Text.read(path))
      (data["rules"] || []).map { |rule| Regexp.new(rule["pattern"]) }
    rescue StandardError, RegexpError
      []
    end
  end

  # Runs a command without a shell, with a minimal environment (no secrets), a deadline and bounded output.
  module Command
    module_function

    def capture(argv, chdir: nil, timeout: 5, env: {})
      base = { "PATH" => ENV["PATH"] || "/usr/bin:/bin", "HOME" => ENV["HOME"], "LC_ALL" => "C", "LANG" => "C" }
      opts = { out: nil, err: File::NULL, in: File::NULL, unsetenv_others: true }
      opts[:chdir] = chdir if chdir
      reader, writer = IO.pipe
      opts[:out] = writer
      pid = Process.spawn(base.merge(env).reject { |_k, v| v.nil? }, *argv, opts)
      writer.close
      out = String.new
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        remaining = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        break if remaining <= 0 || !IO.select([reader], nil, nil, remaining)

        chunk = reader.read_nonblock(65_536, exception: false)
        break if chunk.nil?
        next if chunk == :wait_readable

        out << chunk
        break if out.bytesize > 4 * 1024 * 1024
      end
      reader.close
      status = reap(pid, deadline)
      status&.success? ? Text.clean(out, Float::INFINITY) : nil
    rescue SystemCallError, IOError
      nil
    end

    # The exit status, waiting until the deadline; after it the command is killed (and nil returned).
    def reap(pid, deadline)
      loop do
        _pid, status = Process.waitpid2(pid, Process::WNOHANG)
        return status if status
        break if Process.clock_gettime(Process::CLOCK_MONOTONIC) >= deadline

        sleep 0.005
      end
      Process.kill("KILL", pid)
      Process.waitpid2(pid)
      nil
    rescue SystemCallError
      nil
    end
  end

  # Git context of the app checkout, as Kamal sees it (it runs git in its working directory).
  module Git
    module_function

    def context(dir)
      env = { "GIT_OPTIONAL_LOCKS" => "0", "GIT_TERMINAL_PROMPT" => "0", "GIT_DIR" => ENV["GIT_DIR"],
              "GIT_WORK_TREE" => ENV["GIT_WORK_TREE"] }
      git = ->(*args) { Command.capture(["git", *args], chdir: dir, env: env)&.strip }
      return {} unless git.call("rev-parse", "--is-inside-work-tree") == "true"

      revision = git.call("rev-parse", "--verify", "-q", "HEAD")
      branch = git.call("symbolic-ref", "-q", "--short", "HEAD")
      tag = branch.nil? || branch.empty? ? git.call("describe", "--tags", "--exact-match", "HEAD") : nil
      status = git.call("status", "--porcelain")
      remotes = (git.call("remote") || "").split("\n")
      remote = remotes.include?("origin") ? "origin" : remotes.first
      url = remote && git.call("remote", "get-url", remote)
      {
        revision: revision.to_s.empty? ? nil : revision,
        branch: branch.to_s.empty? ? nil : branch,
        tag: tag.to_s.empty? ? nil : tag,
        dirty: status.nil? ? nil : !status.empty?,
        changed_files: status.nil? ? nil : status.split("\n").size,
        remote_url: url.to_s.empty? ? nil : strip_credentials(url)
      }
    end

    # Drops the userinfo (user, password or token) of a URL, and its query and fragment unless
    # asked to keep them (the masker then still masks secret-looking parameters); scp-like
    # `git@host:path` remotes are kept as they are.
    def strip_credentials(url, keep_query: false)
      m = url.strip.match(%r{\A([A-Za-z][A-Za-z0-9+.-]*://)(?:[^/?#]*@)?([^?#]*)(.*)\z}m)
      return url.strip unless m

      "#{m[1]}#{m[2]}#{keep_query ? m[3] : ''}"
    end
  end

  # The processes above this hook: is it run by Kamal, and by a Kamal run from inside another Kamal
  # run's hook (a nested call, for which Kamal passes KAMAL_LOCK on purpose)?
  module Processes
    HOOK_FILE = /\A(?:#{HOOKS.map { |h| Regexp.escape(h) }.join("|")})(?:#{Regexp.escape(CHAINED_SUFFIX)})?\z/.freeze

    module_function

    def ancestors(max = 32)
      list = []
      pid = Process.ppid
      while pid && pid > 1 && list.size < max
        info = describe(pid)
        break unless info

        list << info
        pid = info[:ppid]
      end
      list
    end

    def describe(pid)
      if File.readable?("/proc/#{pid}/stat")
        stat = File.read("/proc/#{pid}/stat")
        fields = stat[(stat.rindex(")") + 2)..-1].split(" ")
        argv = File.binread("/proc/#{pid}/cmdline").split("\0")
        { pid: pid, ppid: fields[1].to_i, start: fields[19], argv: argv }
      else
        line = Command.capture(["ps", "-o", "ppid=", "-o", "lstart=", "-o", "args=", "-p", pid.to_s], timeout: 2)
        return nil unless line && !line.strip.empty?

        parts = line.strip.split(/\s+/)
        { pid: pid, ppid: parts[0].to_i, start: parts[1, 5].join(" "), argv: parts[6..-1] || [] }
      end
    rescue SystemCallError, IOError, NoMethodError
      nil
    end

    def kamal?(info)
      info[:argv].first(3).any? { |a| !a.include?(" ") && File.basename(a) == "kamal" }
    end

    def hook?(info)
      info[:argv].first(3).any? { |a| !a.include?(" ") && HOOK_FILE.match?(File.basename(a)) }
    end

    # {invoked_by_kamal:, nested:, kamal_pid:, kamal_start:}
    def summary(list = ancestors)
      kamals = list.each_index.select { |i| kamal?(list[i]) }
      first = kamals[0]
      nested = false
      if kamals.size >= 2
        # a hook process between the two, or a hook that exec'd kamal (then the inner kamal is a
        # direct child of the outer one, as hooks are)
        nested = kamals[1] == first + 1 || ((first + 1)...kamals[1]).any? { |i| hook?(list[i]) }
      end
      {
        invoked_by_kamal: !first.nil?,
        nested: nested,
        kamal_pid: first && list[first][:pid],
        kamal_start: first && list[first][:start]
      }
    end
  end

  # CI detection: the provider and its run, from the provider's own build variables.
  module CI
    module_function

    def detect(env)
      yes = ->(name) { %w[true 1 yes].include?(env[name].to_s.downcase) }
      if yes.call("GITHUB_ACTIONS")
        server = env["GITHUB_SERVER_URL"] || "https://github.com"
        repo = env["GITHUB_REPOSITORY"]
        run = env["GITHUB_RUN_ID"]
        attempt = env["GITHUB_RUN_ATTEMPT"]
        url = repo && run ? "#{server}/#{repo}/actions/runs/#{run}" : nil
        url = "#{url}/attempts/#{attempt}" if url && attempt && attempt != "1"
        actor = env["GITHUB_ACTOR"]
        triggering = env["GITHUB_TRIGGERING_ACTOR"]
        { provider: "github_actions", pipeline: env["GITHUB_WORKFLOW"], run_id: run, run_url: url,
          task: env["GITHUB_JOB"], actor: actor, triggering_actor: triggering == actor ? nil : triggering,
          trigger: env["GITHUB_EVENT_NAME"], ref: env["GITHUB_REF_NAME"] }
      elsif yes.call("GITLAB_CI")
        { provider: "gitlab_ci", pipeline: env["CI_PROJECT_PATH"], run_id: env["CI_PIPELINE_ID"],
          run_url: env["CI_PIPELINE_URL"], task: env["CI_JOB_NAME"], task_run_id: env["CI_JOB_ID"],
          task_url: env["CI_JOB_URL"], actor: env["GITLAB_USER_LOGIN"], trigger: env["CI_PIPELINE_SOURCE"],
          ref: env["CI_COMMIT_REF_NAME"] }
      elsif yes.call("BUILDKITE")
        url = env["BUILDKITE_BUILD_URL"]
        job = env["BUILDKITE_JOB_ID"]
        { provider: "buildkite", pipeline: env["BUILDKITE_PIPELINE_SLUG"], run_id: env["BUILDKITE_BUILD_ID"],
          run_url: url, task: env["BUILDKITE_LABEL"], task_run_id: job, task_url: url && job ? "#{url}##{job}" : nil,
          actor: env["BUILDKITE_BUILD_CREATOR_EMAIL"] || env["BUILDKITE_BUILD_CREATOR"],
          trigger: env["BUILDKITE_SOURCE"], ref: env["BUILDKITE_BRANCH"] }
      elsif yes.call("CIRCLECI")
        project = [env["CIRCLE_PROJECT_USERNAME"], env["CIRCLE_PROJECT_REPONAME"]].compact.join("/")
        { provider: "circleci", pipeline: project.empty? ? nil : project, run_id: env["CIRCLE_WORKFLOW_ID"],
          task: env["CIRCLE_JOB"], task_run_id: env["CIRCLE_BUILD_NUM"], task_url: env["CIRCLE_BUILD_URL"],
          actor: env["CIRCLE_USERNAME"], ref: env["CIRCLE_BRANCH"] }
      elsif env["JENKINS_URL"] && (env["BUILD_ID"] || env["BUILD_NUMBER"])
        { provider: "jenkins", pipeline: env["JOB_NAME"], run_id: env["BUILD_TAG"] || env["BUILD_ID"],
          run_url: env["BUILD_URL"], actor: env["BUILD_USER_ID"], ref: env["GIT_BRANCH"] }
      elsif yes.call("CI")
        { provider: "generic" }
      end
    end
  end

  # Lock-bypass detection. Setting KAMAL_LOCK=true makes Kamal (2.6+) believe it already holds the
  # deploy lock and never take it (Kamal::Commander#reset reads ENV["KAMAL_LOCK"]); Kamal passes its
  # own view, KAMAL_LOCK=true/false, to every hook. Where Kamal itself cannot hold the lock at that
  # hook (it takes it later, or never, in that command), KAMAL_LOCK=true came from the environment:
  # a lock bypass, unless this Kamal run was started from another Kamal run's hook (a nested call,
  # which is what Kamal passes the variable for, kamal issue #1517).
  module Lock
    module_function

    # Whether Kamal's own lock is held when `hook` runs for `command`/`subcommand`, in Kamal 2.6-2.12.
    def expected(hook, command, subcommand)
      case hook
      when "pre-connect" then false # runs before the first SSH connection; taking the lock needs one
      when "pre-build", "post-deploy" then command == "setup" # setup holds its lock around build and deploy
      when "pre-deploy", "pre-app-boot", "post-app-boot", "docker-setup" then true
      when "pre-proxy-reboot", "post-proxy-reboot" then !(command == "proxy" && subcommand == "upgrade")
      end
    end

    def assess(hook, env, processes)
      value = env["KAMAL_LOCK"]
      expected = expected(hook, env["KAMAL_COMMAND"], env["KAMAL_SUBCOMMAND"])
      held = value == "true"
      nested = processes[:nested]
      reason =
        if value.nil? then "KAMAL_LOCK not passed (Kamal before 2.6, or the hook was not run by Kamal)"
        elsif expected.nil? then "unknown hook"
        elsif held && expected then "held by this Kamal run"
        elsif held && nested then "inherited from the Kamal run whose hook started this one (nested call)"
        elsif held then "KAMAL_LOCK=true came from the environment: Kamal did not take the deploy lock"
        elsif expected then "not held where Kamal holds the lock (unexpected)"
        else "not held (Kamal takes the lock later in this command, or not at all)"
        end
      { value: value, expected: expected, bypass: held && expected == false && !nested, nested: nested, reason: reason }
    end
  end

  # Settings: the first of $KAMAL_SIEM_CONFIG, config.yml beside this file (in the app's hooks
  # folder), ~/.kamal-siem/config.yml; then KAMAL_SIEM_* overrides.
  class Config
    DESTINATION_TYPES = %w[splunk_hec elasticsearch otlp_http syslog_tls].freeze
    LITERAL_CREDENTIALS = %w[token api_key apikey password passwd secret headers authorization].freeze
    DEFAULT_DELIVERY = { "timeout" => 15, "max_total" => 40, "attempts" => 4, "backoff" => 0.5, "max_backoff" => 8,
                         "batch_size" => 100, "retry_pause" => 60, "connect_timeout" => 3, "read_timeout" => 10,
                         "ack_timeout" => 10 }.freeze

    attr_reader :path, :spool_dir, :fail_on_delivery_error, :no_delivery, :delivery, :destinations, :warnings,
                :max_segment_bytes, :verbose

    def self.load(env = ENV, here = __dir__)
      candidates = []
      candidates << env["KAMAL_SIEM_CONFIG"] if env["KAMAL_SIEM_CONFIG"] && !env["KAMAL_SIEM_CONFIG"].empty?
      candidates << File.join(here, "config.yml")
      candidates << File.join(Dir.home, ".kamal-siem", "config.yml") if home?
      path = candidates.find { |c| File.file?(File.expand_path(c)) }
      warnings = []
      if env["KAMAL_SIEM_CONFIG"] && !env["KAMAL_SIEM_CONFIG"].empty? && path != env["KAMAL_SIEM_CONFIG"]
        warnings << "KAMAL_SIEM_CONFIG names a file that does not exist; using #{path ? 'another config file' : 'the defaults'}"
      end
      data = {}
      if path
        begin
          data = YAML.safe_load(Text.read(File.expand_path(path))) || {}
          raise Error, "the top level is not a mapping" unless data.is_a?(Hash)
        rescue StandardError, Psych::Exception => e
          warnings << "#{File.basename(path)} is not valid (#{e.class}); delivery is off, events are only spooled"
          data = { "destinations" => [] }
        end
      end
      new(data, env, path, warnings)
    end

    def self.home?
      Dir.home
      true
    rescue ArgumentError
      false
    end

    def initialize(data, env, path, warnings)
      @path = path
      @warnings = warnings
      @verbose = data["verbose"] == true
      spool = env["KAMAL_SIEM_SPOOL_DIR"].to_s.empty? ? data["spool_dir"] : env["KAMAL_SIEM_SPOOL_DIR"]
      @spool_dir = resolve_spool(spool)
      @fail_on_delivery_error = flag(env["KAMAL_SIEM_FAIL_ON_DELIVERY_ERROR"], data["fail_on_delivery_error"] == true)
      @no_delivery = flag(env["KAMAL_SIEM_NO_DELIVERY"], false)
      @max_segment_bytes = (data["max_segment_bytes"] || 16 * 1024 * 1024).to_i
      @delivery = DEFAULT_DELIVERY.merge((data["delivery"].is_a?(Hash) ? data["delivery"] : {}).select { |k, _| DEFAULT_DELIVERY.key?(k) })
      @destinations = []
      Array(data["destinations"]).each_with_index { |d, i| add_destination(d, i) }
    end

    private

    def flag(value, default)
      return default if value.nil? || value.empty?

      %w[1 true yes on].include?(value.downcase)
    end

    def resolve_spool(value)
      case value
      when nil, "" then Config.home? ? File.join(Dir.home, ".kamal-siem", "spool") : File.join(Dir.pwd, ".kamal", "kamal-siem-spool")
      when "app" then File.join(Dir.pwd, ".kamal", "kamal-siem-spool")
      else File.expand_path(value.to_s, Dir.pwd)
      end
    end

    def add_destination(entry, index)
      unless entry.is_a?(Hash) && DESTINATION_TYPES.include?(entry["type"])
        @warnings << "destination #{index + 1}: type must be one of #{DESTINATION_TYPES.join(', ')}; skipped"
        return
      end
      name = (entry["name"] || entry["type"]).to_s
      unless name.match?(/\A[A-Za-z0-9_.-]{1,64}\z/) && @destinations.none? { |d| d["name"] == name }
        @warnings << "destination #{index + 1}: the name must be unique, letters, digits, '.', '_' or '-'; skipped"
        return
      end
      literal = entry.keys.map(&:to_s).select { |k| LITERAL_CREDENTIALS.include?(k.downcase) }
      url = (entry["url"] || entry["endpoint"]).to_s
      if !literal.empty? || url.match?(%r{://[^/]*@})
        @warnings << "destination #{name}: credentials must come from environment variables named in the config " \
                     "(token_env, api_key_env, headers_env, ...), never from the config itself; skipped"
        return
      end
      @destinations << entry.merge("name" => name)
    end
  end

  # One event read back from the spool.
  SpooledEvent = Struct.new(:seq, :id, :chain_id, :time_ns, :hook, :host, :line, :request, :file, :lineno)

  # The local spool: append-only NDJSON segments (events-000001.ndjson, ...), one canonical OTLP
  # export request a line, hash-chained; chain.json records the head; state/ the per-destination
  # delivery state.
  class Spool
    SEGMENT = /\Aevents-(\d{6,})\.ndjson\z/.freeze

    attr_reader :dir, :anomalies

    def initialize(dir, max_segment_bytes = 16 * 1024 * 1024)
      @dir = dir
      @max_segment_bytes = max_segment_bytes
      @anomalies = []
    end

    def prepare
      FileUtils.mkdir_p(File.join(@dir, "state"), mode: 0o700)
      File.chmod(0o700, @dir)
    rescue Errno::EPERM
      nil
    end

    def locked(name = ".lock", wait: nil)
      prepare
      File.open(File.join(@dir, name), File::RDWR | File::CREAT, 0o600) do |f|
        if wait
          deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + wait
          until f.flock(File::LOCK_EX | File::LOCK_NB)
            return :busy if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

            sleep 0.05
          end
        else
          f.flock(File::LOCK_EX)
        end
        yield
      end
    end

    def segments
      return [] unless File.directory?(@dir)

      Dir.children(@dir).select { |n| SEGMENT.match?(n) }.sort_by { |n| n[SEGMENT, 1].to_i }.map { |n| File.join(@dir, n) }
    end

    def head
      path = File.join(@dir, "chain.json")
      File.file?(path) ? JSON.parse(Text.read(path)) : nil
    rescue JSON::ParserError, SystemCallError
      @anomalies << "chain.json is unreadable"
      nil
    end

    # Appends the request (without chain attributes) as the next event of the chain; returns the
    # SpooledEvent written.
    def append(request, now_ns)
      locked do
        head = self.head
        last, torn = last_event
        chain_id = (head && head["chain_id"]) || (last && last.chain_id) || SecureRandom.uuid
        seq = 0
        prev = ZERO_HASH
        if head && head["seq"].is_a?(Integer)
          seq = head["seq"]
          prev = head["hash"].to_s
        end
        if last && last.seq > seq
          seq = last.seq
          prev = Otlp.record_attribute(last.request, "kamal.hook.chain.hash").to_s
        end
        check_head(head, last, torn)
        attrs = Otlp.record_attributes(request)
        attrs << Otlp.attribute("kamal.hook.chain.anomaly", @anomalies.join("; ")) unless @anomalies.empty?
        attrs << Otlp.attribute("kamal.hook.chain.id", chain_id)
        attrs << Otlp.attribute("kamal.hook.chain.seq", seq + 1)
        attrs << Otlp.attribute("kamal.hook.chain.prev_hash", prev)
        hash = Canonical.sha256(request)
        attrs << Otlp.attribute("kamal.hook.chain.hash", hash)
        line = Canonical.dump(request)
        path = writable_segment(line.bytesize + 1)
        data = String.new
        data << "\n" if torn
        data << line << "\n"
        File.open(path, File::WRONLY | File::APPEND | File::CREAT, 0o600) do |f|
          f.write(data)
          f.flush
          begin
            f.fsync
          rescue SystemCallError
            nil
          end
        end
        write_json(File.join(@dir, "chain.json"),
                   "chain_id" => chain_id, "seq" => seq + 1, "hash" => hash, "segment" => File.basename(path),
                   "updated_at" => Text.iso8601_ns(now_ns))
        SpooledEvent.new(seq + 1, Otlp.record_attribute(request, "log.record.uid"), chain_id, now_ns, nil, nil, line, request, path, nil)
      end
    end

    # The events with seq > after, in spool order.
    def events_after(after)
      segs = segments
      start = 0
      segs.each_with_index do |seg, i|
        first = first_seq(seg)
        start = i if first && first <= after + 1
      end
      events = []
      segs[start..-1].to_a.each do |seg|
        File.foreach(seg, encoding: Encoding::UTF_8).with_index(1) do |raw, lineno|
          next unless raw.end_with?("\n")

          event = parse(raw.chomp, seg, lineno)
          events << event if event && event.seq > after
        end
      end
      events
    end

    def write_json(path, data)
      tmp = "#{path}.tmp.#{Process.pid}"
      File.open(tmp, File::WRONLY | File::CREAT | File::TRUNC, 0o600) { |f| f.write(JSON.generate(data)) }
      File.rename(tmp, path)
    end

    private

    def check_head(head, last, torn)
      @anomalies << "the last line of #{File.basename(segments.last)} is incomplete" if torn
      return unless head && head["seq"].is_a?(Integer) && head["seq"].positive?

      if last.nil?
        @anomalies << "chain.json records seq #{head['seq']} but the spool holds no event"
      elsif head["seq"] > last.seq
        @anomalies << "spool truncated: chain.json records seq #{head['seq']}, the spool ends at seq #{last.seq}"
      elsif head["chain_id"] && last.chain_id != head["chain_id"]
        @anomalies << "the last event belongs to another chain than chain.json"
      end
    end

    def writable_segment(size)
      last = segments.last
      return last if last && File.size(last) + size <= @max_segment_bytes

      number = last ? File.basename(last)[SEGMENT, 1].to_i + 1 : 1
      File.join(@dir, format("events-%06d.ndjson", number))
    end

    def first_seq(seg)
      File.open(seg, "r:UTF-8") do |f|
        line = f.gets
        event = line && parse(line.chomp, seg, 1)
        event&.seq
      end
    rescue SystemCallError
      nil
    end

    # The last complete, readable event of the newest segment, and whether its file ends mid-line.
    def last_event
      seg = segments.last
      return [nil, false] unless seg && File.size(seg).positive?

      size = File.size(seg)
      tail = File.open(seg, "rb") do |f|
        f.seek([size - 1_048_576, 0].max)
        f.read
      end
      torn = !tail.end_with?("\n")
      lines = tail.split("\n")
      lines.pop if torn
      lines.reverse_each do |raw|
        event = parse(raw.force_encoding(Encoding::UTF_8), seg, nil)
        return [event, torn] if event
      end
      @anomalies << "the newest spool segment holds no readable event"
      [nil, torn]
    end

    def parse(raw, file, lineno)
      request = JSON.parse(raw)
      seq = Otlp.record_attribute(request, "kamal.hook.chain.seq")
      return nil unless seq.is_a?(Integer)

      record = request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
      resource = (request["resourceLogs"][0]["resource"] || {})["attributes"] || []
      host = resource.find { |a| a["key"] == "host.name" }
      SpooledEvent.new(seq, Otlp.record_attribute(request, "log.record.uid"),
                       Otlp.record_attribute(request, "kamal.hook.chain.id"), record["timeUnixNano"].to_i,
                       Otlp.record_attribute(request, "kamal.hook.name"), host && Otlp.plain(host["value"]),
                       raw, request, file, lineno)
    rescue JSON::ParserError, NoMethodError, TypeError
      nil
    end
  end

  # Per-destination delivery state: every event with seq <= through_seq is delivered, plus the ids
  # in `delivered` (id => seq) above it.
  class DeliveryState
    attr_reader :data

    def initialize(spool, name)
      @spool = spool
      @path = File.join(spool.dir, "state", "#{name}.json")
      @data = File.file?(@path) ? JSON.parse(Text.read(@path)) : {}
      @data = {} unless @data.is_a?(Hash)
    rescue JSON::ParserError, SystemCallError
      @data = {}
    end

    def for_chain(chain_id)
      if @data["chain_id"] != chain_id
        channel = @data["channel"]
        @data = { "chain_id" => chain_id, "through_seq" => 0, "delivered" => {} }
        @data["channel"] = channel if channel
      end
      @data["through_seq"] ||= 0
      @data["delivered"] ||= {}
      self
    end

    def through_seq
      @data["through_seq"].to_i
    end

    def delivered?(event)
      event.seq <= through_seq || @data["delivered"].key?(event.id)
    end

    def mark(events)
      events.each { |e| @data["delivered"][e.id] = e.seq }
    end

    # Advances through_seq over the delivered prefix of `events` (all events above it, in order).
    def compact(events)
      through = through_seq
      events.sort_by(&:seq).each do |e|
        break unless delivered?(e)

        through = e.seq if e.seq > through
      end
      @data["through_seq"] = through
      @data["delivered"].reject! { |_id, seq| seq.to_i <= through }
    end

    def channel
      @data["channel"] ||= SecureRandom.uuid
    end

    def paused?(now)
      @data["paused_until"].to_f > now
    end

    def succeeded(now)
      @data.delete("paused_until")
      @data.delete("last_error")
      @data["failures"] = 0
      @data["last_success_at"] = Time.at(now).utc.iso8601
    end

    def failed(now, pause, error)
      @data["failures"] = @data["failures"].to_i + 1
      @data["paused_until"] = now + pause if pause.to_f.positive?
      @data["last_error"] = error
    end

    def save
      @spool.write_json(@path, @data)
    end
  end

  # A delivery attempt's outcome: the events delivered, and why the rest were not.
  class Retryable < Error
    attr_reader :retry_after

    def initialize(message, retry_after = nil)
      super(message)
      @retry_after = retry_after
    end
  end

  class Permanent < Error; end

  Result = Struct.new(:delivered, :error)

  # HTTP and TLS plumbing shared by the destinations.
  module Transport
    module_function

    def tls_context(config)
      ctx = OpenSSL::SSL::SSLContext.new
      if config["insecure_skip_verify"] == true
        ctx.verify_mode = OpenSSL::SSL::VERIFY_NONE
      else
        ctx.verify_mode = OpenSSL::SSL::VERIFY_PEER
        store = OpenSSL::X509::Store.new
        store.set_default_paths
        store.add_file(File.expand_path(config["ca_file"])) if config["ca_file"]
        ctx.cert_store = store
      end
      ctx.min_version = OpenSSL::SSL::TLS1_2_VERSION if ctx.respond_to?(:min_version=)
      if config["cert_file"] && config["key_file"]
        ctx.cert = OpenSSL::X509::Certificate.new(File.read(File.expand_path(config["cert_file"])))
        ctx.key = OpenSSL::PKey.read(File.read(File.expand_path(config["key_file"])))
      end
      ctx
    end

    def post(url, body, headers, config, timeouts)
      uri = URI.parse(url)
      http = Net::HTTP.new(uri.host, uri.port)
      http.open_timeout = timeouts[:connect]
      http.read_timeout = timeouts[:read]
      http.write_timeout = timeouts[:read] if http.respond_to?(:write_timeout=)
      if uri.scheme == "https"
        http.use_ssl = true
        ctx = tls_context(config)
        http.verify_mode = ctx.verify_mode
        http.cert_store = ctx.cert_store if ctx.cert_store
        http.cert = ctx.cert if ctx.cert
        http.key = ctx.key if ctx.key
        http.min_version = :TLS1_2 if http.respond_to?(:min_version=)
      end
      request = Net::HTTP::Post.new(uri.request_uri)
      headers.each { |k, v| request[k] = v }
      request.body = body
      http.start { |h| h.request(request) }
    rescue Net::OpenTimeout, Net::ReadTimeout, Net::WriteTimeout => e
      raise Retryable, "timeout (#{e.class})"
    rescue OpenSSL::SSL::SSLError => e
      raise Permanent, "TLS error (#{e.class})"
    rescue SystemCallError, IOError, SocketError, EOFError => e
      raise Retryable, "connection failed (#{e.class})"
    end

    def retry_after(response)
      value = response["Retry-After"].to_s
      value.match?(/\A\d+\z/) ? value.to_i : nil
    end

    def join(base, path)
      base = base.to_s.sub(%r{/+\z}, "")
      base.end_with?(path) ? base : base + path
    end

    def json(body)
      body.to_s.empty? ? {} : JSON.parse(body)
    rescue JSON::ParserError
      nil
    end
  end

  # A configured destination.
  class Destination
    attr_reader :name, :config

    def self.build(config)
      case config["type"]
      when "splunk_hec" then SplunkHec.new(config)
      when "elasticsearch" then Elasticsearch.new(config)
      when "otlp_http" then OtlpHttp.new(config)
      when "syslog_tls" then SyslogTls.new(config)
      end
    end

    def initialize(config)
      @config = config
      @name = config["name"]
    end

    # The environment variables (names) this destination reads credentials from.
    def credential_names
      names = %w[token_env api_key_env username_env password_env].map { |k| @config[k] }.compact
      names += @config["headers_env"].values if @config["headers_env"].is_a?(Hash)
      names.map(&:to_s)
    end

    def missing_credentials(env)
      credential_names.select { |n| env[n].nil? || env[n].empty? }
    end

    def timeouts(delivery)
      { connect: (@config["connect_timeout"] || delivery["connect_timeout"]).to_f,
        read: (@config["read_timeout"] || delivery["read_timeout"]).to_f }
    end

    def status_error(response, what)
      code = response.code.to_i
      message = "#{what} answered HTTP #{code}"
      raise Retryable.new(message, Transport.retry_after(response)) if [408, 429, 500, 502, 503, 504].include?(code)

      raise Permanent, message
    end
  end

  # Splunk HTTP Event Collector: POST /services/collector/event, `Authorization: Splunk <token>`,
  # events batched as concatenated JSON objects. `event` is the spool line itself, so Splunk's _raw
  # is byte-identical to the spooled event (and its chain hash can be re-verified from Splunk).
  class SplunkHec < Destination
    def deliver(events, env, delivery, state, deadline)
      url = Transport.join(@config["url"], "/services/collector/event")
      body = events.map do |e|
        item = { "time" => format("%.3f", e.time_ns / 1e9).to_f, "host" => e.host, "source" => @config["source"] || "kamal-siem:hook",
                 "sourcetype" => @config["sourcetype"] || "kamal:run", "event" => e.line, "fields" => { "event_id" => e.id } }
        item["index"] = @config["index"] if @config["index"]
        item.delete("host") if item["host"].nil?
        JSON.generate(item)
      end.join("\n")
      headers = { "Authorization" => "Splunk #{env[@config['token_env']]}", "Content-Type" => "application/json" }
      headers["X-Splunk-Request-Channel"] = state.channel if @config["ack"] == true
      response = Transport.post(url, body, headers, @config, timeouts(delivery))
      status_error(response, "Splunk HEC") unless response.code.to_i == 200
      answer = Transport.json(response.body)
      raise Permanent, "Splunk HEC answered with an unexpected body" unless answer.is_a?(Hash) && answer["code"].to_i.zero?

      wait_for_ack(answer["ackId"], env, delivery, state, deadline) if @config["ack"] == true
      Result.new(events, nil)
    end

    private

    def wait_for_ack(ack_id, env, delivery, state, deadline)
      raise Permanent, "Splunk HEC gave no ackId: is indexer acknowledgment enabled for this token?" if ack_id.nil?

      url = "#{Transport.join(@config['url'], '/services/collector/ack')}?channel=#{state.channel}"
      headers = { "Authorization" => "Splunk #{env[@config['token_env']]}", "Content-Type" => "application/json",
                  "X-Splunk-Request-Channel" => state.channel }
      limit = [deadline, Process.clock_gettime(Process::CLOCK_MONOTONIC) + delivery["ack_timeout"].to_f].min
      loop do
        response = Transport.post(url, JSON.generate("acks" => [ack_id]), headers, @config, timeouts(delivery))
        status_error(response, "Splunk HEC ack") unless response.code.to_i == 200
        acks = (Transport.json(response.body) || {})["acks"] || {}
        return if acks[ack_id.to_s] == true
        raise Retryable, "Splunk HEC did not acknowledge indexing in time" if Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.5 > limit

        sleep 0.5
      end
    end
  end

  # Elasticsearch _bulk: NDJSON `create` actions into the data stream, with the event id as _id, so a
  # resent event is refused (409) instead of indexed twice.
  class Elasticsearch < Destination
    def deliver(events, env, delivery, _state, _deadline)
      stream = @config["data_stream"] || "logs-kamal.run-default"
      type, dataset, namespace = stream.split("-", 3)
      body = String.new
      events.each do |e|
        body << JSON.generate("create" => { "_index" => stream, "_id" => e.id }) << "\n"
        doc = { "@timestamp" => Text.iso8601_ns(e.time_ns), "message" => e.line,
                "event" => { "id" => e.id, "dataset" => dataset, "kind" => "event" },
                "data_stream" => { "type" => type, "dataset" => dataset, "namespace" => namespace } }
        body << JSON.generate(doc) << "\n"
      end
      headers = { "Content-Type" => "application/x-ndjson", "Authorization" => authorization(env) }
      response = Transport.post(Transport.join(@config["url"], "/_bulk"), body, headers, @config, timeouts(delivery))
      status_error(response, "Elasticsearch") unless response.code.to_i == 200
      answer = Transport.json(response.body)
      raise Permanent, "Elasticsearch answered with an unexpected body" unless answer.is_a?(Hash) && answer["items"].is_a?(Array)

      items(events, answer)
    end

    private

    def authorization(env)
      if @config["api_key_env"]
        "ApiKey #{env[@config['api_key_env']]}"
      else
        "Basic #{["#{env[@config['username_env']]}:#{env[@config['password_env']]}"].pack('m0')}"
      end
    end

    def items(events, answer)
      delivered = []
      error = nil
      events.each_with_index do |e, i|
        item = answer["items"][i]
        result = item.is_a?(Hash) ? (item["create"] || item.values.first) : nil
        status = result.is_a?(Hash) ? result["status"].to_i : 0
        if (200..299).cover?(status) || status == 409 # 409: this _id is already in the data stream
          delivered << e
        elsif error.nil?
          kind = result.is_a?(Hash) && result["error"].is_a?(Hash) ? result["error"]["type"].to_s : "no item"
          message = "Elasticsearch refused event #{i + 1} of the batch (HTTP #{status}, #{kind})"
          error = [429, 500, 502, 503, 504].include?(status) ? Retryable.new(message) : Permanent.new(message)
        end
      end
      Result.new(delivered, error)
    end
  end

  # OTLP/HTTP with JSON encoding: POST <endpoint>/v1/logs, one ExportLogsServiceRequest holding every
  # event's resourceLogs.
  class OtlpHttp < Destination
    attr_reader :rejected

    def deliver(events, env, delivery, _state, _deadline)
      body = JSON.generate("resourceLogs" => events.flat_map { |e| e.request["resourceLogs"] })
      headers = { "Content-Type" => "application/json" }
      (@config["headers_env"] || {}).each { |header, variable| headers[header.to_s] = env[variable.to_s].to_s }
      response = Transport.post(Transport.join(@config["endpoint"] || @config["url"], "/v1/logs"), body, headers, @config,
                                timeouts(delivery))
      code = response.code.to_i
      unless (200..299).cover?(code)
        # OTLP/HTTP: only 429, 502, 503 and 504 may be retried
        raise Retryable.new("OTLP endpoint answered HTTP #{code}", Transport.retry_after(response)) if [429, 502, 503, 504].include?(code)

        raise Permanent, "OTLP endpoint answered HTTP #{code}"
      end
      answer = Transport.json(response.body) || {}
      partial = answer["partialSuccess"].is_a?(Hash) ? answer["partialSuccess"]["rejectedLogRecords"].to_i : 0
      # the spec forbids retrying what a partial success rejected: count it, keep it in the spool
      @rejected = partial
      Result.new(events, nil)
    end
  end

  # RFC 5424 syslog over TLS (RFC 5425), octet-counting framing (RFC 6587 3.4.1): `MSG-LEN SP SYSLOG-MSG`.
  class SyslogTls < Destination
    FACILITIES = { "kern" => 0, "user" => 1, "mail" => 2, "daemon" => 3, "auth" => 4, "syslog" => 5, "lpr" => 6,
                   "news" => 7, "uucp" => 8, "cron" => 9, "authpriv" => 10, "ftp" => 11, "ntp" => 12, "audit" => 13,
                   "alert" => 14, "clock" => 15, "local0" => 16, "local1" => 17, "local2" => 18, "local3" => 19,
                   "local4" => 20, "local5" => 21, "local6" => 22, "local7" => 23 }.freeze

    def deliver(events, _env, delivery, _state, deadline)
      host = @config["host"].to_s
      port = (@config["port"] || 6514).to_i
      t = timeouts(delivery)
      socket = Socket.tcp(host, port, connect_timeout: t[:connect])
      ssl = OpenSSL::SSL::SSLSocket.new(socket, Transport.tls_context(@config))
      ssl.sync_close = true
      ssl.hostname = @config["server_name"] || host if ssl.respond_to?(:hostname=) && !ip?(host)
      limit = [deadline, Process.clock_gettime(Process::CLOCK_MONOTONIC) + t[:connect] + t[:read]].min
      nonblocking(ssl, limit) { ssl.connect_nonblock(exception: false) }
      ssl.post_connection_check(@config["server_name"] || host) unless @config["insecure_skip_verify"] == true
      data = String.new(encoding: Encoding::BINARY)
      events.each do |e|
        message = frame(e).b
        data << message.bytesize.to_s << " " << message
      end
      until data.empty?
        written = nonblocking(ssl, limit) { ssl.write_nonblock(data, exception: false) }
        data = data.byteslice(written..-1)
      end
      begin
        ssl.close
      rescue StandardError
        nil
      end
      Result.new(events, nil)
    rescue OpenSSL::SSL::SSLError => e
      raise Permanent, "TLS error (#{e.class})"
    rescue Errno::ETIMEDOUT => e
      raise Retryable, "timeout (#{e.class})"
    rescue SystemCallError, IOError, SocketError => e
      raise Retryable, "connection failed (#{e.class})"
    ensure
      socket&.close unless socket.nil? || socket.closed?
    end

    private

    def ip?(host)
      host.match?(/\A[\d.]+\z/) || host.include?(":")
    end

    def nonblocking(ssl, limit)
      loop do
        result = yield
        case result
        when :wait_readable, :wait_writable
          remaining = limit - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          raise Retryable, "timeout (TLS)" if remaining <= 0

          ready = result == :wait_readable ? IO.select([ssl], nil, nil, remaining) : IO.select(nil, [ssl], nil, remaining)
          raise Retryable, "timeout (TLS)" unless ready
        else
          return result
        end
      end
    end

    def frame(event)
      facility = @config["facility"]
      facility = FACILITIES.fetch(facility.to_s, 13) unless facility.is_a?(Integer)
      bypass = Otlp.record_attribute(event.request, "kamal.hook.lock.bypass") == true
      pri = facility * 8 + (bypass ? 4 : 6)
      time = Text.iso8601_ns(event.time_ns)
      host = printable(event.host || Socket.gethostname, 255)
      msgid = printable(event.hook || "kamal.hook", 32)
      "<#{pri}>1 #{time} #{host} #{printable(@config['app_name'] || 'kamal-siem', 48)} #{Process.pid} #{msgid} - #{event.line}"
    end

    def printable(value, limit)
      s = value.to_s.gsub(/[^\x21-\x7e]/, "")[0, limit]
      s.empty? ? "-" : s
    end
  end

  # Delivers what the spool holds and a destination has not received, with retries and backoff.
  class Delivery
    Outcome = Struct.new(:name, :status, :sent, :pending, :message)

    def initialize(config, spool, env, masker, secrets_expected)
      @config = config
      @spool = spool
      @env = env
      @masker = masker
      @secrets_expected = secrets_expected
      @delivery = config.delivery
    end

    def run(force: false)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @config.destinations.map do |entry|
        destination = Destination.build(entry)
        total_left = @delivery["max_total"].to_f - (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
        if total_left <= 0
          Outcome.new(destination.name, :deferred, 0, nil, "no time left in this hook run")
        else
          outcome = @spool.locked("state/#{destination.name}.lock", wait: 5) { deliver(destination, [total_left, @delivery["timeout"].to_f].min, force) }
          outcome == :busy ? Outcome.new(destination.name, :deferred, 0, nil, "another hook is delivering") : outcome
        end
      end
    end

    private

    def deliver(destination, budget, force)
      head = @spool.head || {}
      state = DeliveryState.new(@spool, destination.name).for_chain(head["chain_id"])
      now = Time.now.to_f
      pending = @spool.events_after(state.through_seq).reject { |e| e.chain_id == head["chain_id"] && state.delivered?(e) }
      return Outcome.new(destination.name, :ok, 0, 0, nil) if pending.empty?
      return Outcome.new(destination.name, :deferred, 0, pending.size, "paused after a failure") if state.paused?(now) && !force

      missing = destination.missing_credentials(@env)
      unless missing.empty?
        message = "#{missing.join(', ')} not set in this hook's environment"
        return Outcome.new(destination.name, @secrets_expected ? :failed : :deferred, 0, pending.size, message)
      end

      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + budget
      sent = 0
      error = nil
      pending.each_slice([@delivery["batch_size"].to_i, 1].max) do |batch|
        delivered, error = send_with_retries(destination, batch, state, deadline)
        state.mark(delivered)
        sent += delivered.size
        state.compact(pending)
        state.save
        break if error
      end
      if error
        state.failed(Time.now.to_f, @delivery["retry_pause"].to_f, @masker.text(error.message))
        state.save
        Outcome.new(destination.name, :failed, sent, pending.size - sent, @masker.text(error.message))
      else
        state.succeeded(Time.now.to_f)
        state.save
        rejected = destination.respond_to?(:rejected) ? destination.rejected.to_i : 0
        note = rejected.positive? ? "the endpoint rejected #{rejected} log record(s) (partial success)" : nil
        Outcome.new(destination.name, :ok, sent, 0, note)
      end
    end

    def send_with_retries(destination, batch, state, deadline)
      remaining = batch
      delivered = []
      attempt = 0
      loop do
        attempt += 1
        begin
          result = destination.deliver(remaining, @env, @delivery, state, deadline)
          delivered.concat(result.delivered)
          remaining -= result.delivered
          return [delivered, nil] if remaining.empty?
          raise result.error || Permanent.new("not every event was accepted")
        rescue Retryable => e
          pause = backoff(attempt, e.retry_after)
          left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          return [delivered, e] if attempt >= @delivery["attempts"].to_i || left <= pause

          sleep pause
        rescue Permanent => e
          return [delivered, e]
        rescue StandardError => e
          return [delivered, Permanent.new("#{e.class}")]
        end
      end
    end

    def backoff(attempt, retry_after)
      return retry_after.to_f if retry_after

      base = @delivery["backoff"].to_f
      return 0.0 if base <= 0

      delay = [base * (2**(attempt - 1)), @delivery["max_backoff"].to_f].min
      delay * (0.5 + rand / 2)
    end
  end

  # Builds the event for one hook run.
  class Event
    def initialize(hook, argv, env, masker, secret_names, chained)
      @hook = hook
      @argv = argv
      @allowed = {}
      ALLOWED_VARIABLES.each { |n| @allowed[n] = Text.clean(env[n]) if env[n] }
      @other_kamal_names = env.keys.select { |n| n.start_with?("KAMAL_", "MRSK_") && !KAMAL_VARIABLES.include?(n) && !SETTINGS_VARIABLES.include?(n) }.sort
      @secret_names = secret_names.select { |n| env.key?(n) }.sort
      @masker = masker
      @chained = chained
    end

    def build(now_ns)
      a = @allowed
      processes = Processes.summary
      lock = Lock.assess(@hook, a, processes)
      git = Git.context(Dir.pwd)
      ci = CI.detect(a)
      command = [a["KAMAL_COMMAND"], a["KAMAL_SUBCOMMAND"]].compact.join(" ")
      host = Text.clean(Socket.gethostname)
      runtime = a["KAMAL_RUNTIME"].to_s.match?(/\A\d{1,12}\z/) ? Otlp::Double.new(a["KAMAL_RUNTIME"].to_i) : nil
      invocation = if processes[:kamal_pid]
                     Digest::SHA256.hexdigest("#{host}\0#{processes[:kamal_pid]}\0#{processes[:kamal_start]}")[0, 32]
                   end
      kamal_env = KAMAL_VARIABLES.select { |n| a.key?(n) }.map { |n| [n, a[n]] }.to_h
      branch = git[:branch] || (ci && ci[:ref])
      user = begin
        Etc.getpwuid(Process.uid).name
      rescue StandardError
        nil
      end
      resource = Otlp.attributes([
        ["service.name", "kamal"],
        ["service.namespace", a["KAMAL_SERVICE"]],
        ["deployment.environment.name", a["KAMAL_DESTINATION"]],
        ["kamal.performer", a["KAMAL_PERFORMER"]],
        ["kamal.deploy_version", a["KAMAL_VERSION"]],
        ["host.name", host],
        ["os.type", os_type],
        ["process.runtime.name", RUBY_ENGINE],
        ["process.runtime.version", RUBY_VERSION]
      ])
      id = Text.uuid_v7(now_ns / 1_000_000)
      attributes = Otlp.attributes([
        ["log.record.uid", id],
        ["kamal.hook.name", @hook],
        ["kamal.command", command],
        ["kamal.recorded_at", a["KAMAL_RECORDED_AT"]],
        ["kamal.service_version", a["KAMAL_SERVICE_VERSION"]],
        ["kamal.hosts", list(a["KAMAL_HOSTS"])],
        ["kamal.roles", list(a["KAMAL_ROLES"])],
        ["kamal.lock", a["KAMAL_LOCK"]],
        ["kamal.runtime", runtime],
        ["kamal.hook.env", kamal_env],
        ["kamal.hook.env.other_kamal_names", @other_kamal_names],
        ["kamal.hook.args.count", @argv.size],
        ["kamal.hook.secrets.expected", SECRET_HOOKS.include?(@hook)],
        ["kamal.hook.secrets.names", @secret_names],
        ["kamal.hook.lock.expected", lock[:expected]],
        ["kamal.hook.lock.bypass", lock[:bypass]],
        ["kamal.hook.lock.nested", lock[:nested]],
        ["kamal.hook.lock.reason", lock[:reason]],
        ["kamal.hook.invoked_by_kamal", processes[:invoked_by_kamal]],
        ["kamal.hook.invocation.id", invocation],
        ["kamal.hook.chained", @chained.nil? ? nil : (File.exist?(@chained) || File.symlink?(@chained))],
        ["vcs.ref.head.name", branch || git[:tag]],
        ["vcs.ref.head.type", if branch then "branch" elsif git[:tag] then "tag" end],
        ["vcs.ref.head.revision", git[:revision]],
        ["vcs.repository.url.full", git[:remote_url]],
        ["kamal.hook.git.dirty", git[:dirty]],
        ["kamal.hook.git.changed_files", git[:changed_files]],
        ["user.name", user],
        ["user.id", Process.uid.to_s],
        ["process.pid", Process.pid],
        ["process.parent_pid", Process.ppid],
        ["process.working_directory", Text.clean(Dir.pwd)],
        ["kamal.hook.ci.detected", !ci.nil?],
        ["kamal.hook.ci.provider", ci && ci[:provider]],
        ["cicd.pipeline.name", ci && ci[:pipeline]],
        ["cicd.pipeline.run.id", ci && ci[:run_id]],
        ["cicd.pipeline.run.url.full", ci && ci[:run_url] && Git.strip_credentials(ci[:run_url], keep_query: true)],
        ["cicd.pipeline.task.name", ci && ci[:task]],
        ["cicd.pipeline.task.run.id", ci && ci[:task_run_id]],
        ["cicd.pipeline.task.run.url.full", ci && ci[:task_url] && Git.strip_credentials(ci[:task_url], keep_query: true)],
        ["kamal.hook.ci.actor", ci && ci[:actor]],
        ["kamal.hook.ci.triggering_actor", ci && ci[:triggering_actor]],
        ["kamal.hook.ci.trigger", ci && ci[:trigger]],
        ["kamal.hook.emitter.version", VERSION]
      ])
      record = {
        "timeUnixNano" => now_ns.to_s,
        "observedTimeUnixNano" => now_ns.to_s,
        "severityNumber" => lock[:bypass] ? 13 : 9,
        "severityText" => lock[:bypass] ? "WARN" : "INFO",
        "eventName" => "kamal.hook",
        "body" => { "stringValue" => summary(command, lock) },
        "attributes" => attributes
      }
      request = { "resourceLogs" => [{ "resource" => { "attributes" => resource },
                                       "scopeLogs" => [{ "scope" => { "name" => "kamal-siem.hooks", "version" => VERSION },
                                                         "logRecords" => [record] }] }] }
      @masker.request!(request)
    end

    private

    def list(value)
      value.to_s.split(",").map(&:strip).reject(&:empty?)
    end

    def os_type
      case RbConfig::CONFIG["host_os"]
      when /linux/ then "linux"
      when /darwin/ then "darwin"
      when /freebsd/ then "freebsd"
      when /mswin|mingw|cygwin/ then "windows"
      else RbConfig::CONFIG["host_os"].to_s
      end
    end

    def summary(command, lock)
      a = @allowed
      text = String.new("Kamal hook #{@hook}")
      text << " for `kamal #{command}`" unless command.empty?
      text << " of #{a['KAMAL_SERVICE']}" if a["KAMAL_SERVICE"]
      text << " to #{a['KAMAL_DESTINATION']}" if a["KAMAL_DESTINATION"]
      text << " by #{a['KAMAL_PERFORMER']}" if a["KAMAL_PERFORMER"]
      text << " (version #{a['KAMAL_VERSION'][0, 12]})" if a["KAMAL_VERSION"]
      text << ": deploy lock bypass, #{lock[:reason]}" if lock[:bypass]
      text
    end
  end

  # The names (never the values) of the app's Kamal secrets: the keys of .kamal/secrets,
  # .kamal/secrets-common and .kamal/secrets.<destination> (or `secrets_path:` of config/deploy.yml).
  module Secrets
    module_function

    def names(dir = Dir.pwd)
      base = ".kamal/secrets"
      deploy = File.join(dir, "config", "deploy.yml")
      if File.file?(deploy)
        configured = Text.read(deploy)[/^secrets_path:[ \t]*["']?([^"'\s#]+)/, 1]
        base = configured if configured && !configured.include?("<%")
      end
      base = File.expand_path(base, dir)
      files = [base, "#{base}-common"] + Dir.glob("#{base}.*")
      files.select { |f| File.file?(f) && File.size(f) < 1_048_576 }.flat_map do |f|
        Text.read(f).scan(/^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=/).flatten
      end.uniq
    rescue SystemCallError, ArgumentError
      []
    end
  end

  # The entry points.
  module Hook
    module_function

    def config_and_masker(env, here)
      config = Config.load(env, here)
      credential_names = config.destinations.flat_map { |d| Destination.build(d).credential_names }
      secret_names = Secrets.names
      masker = Masker.new(env, secret_names + credential_names, File.join(here, "redaction.json"))
      [config, masker, secret_names]
    end

    # Records the hook run and delivers the spool. Returns the exit status the hook should end with
    # before its chained hook runs (0, or 1 when fail_on_delivery_error is set and delivery failed).
    def run(hook, argv, env = ENV, here = __dir__, wrapper = nil)
      masker = nil
      config = nil
      config, masker, secret_names = config_and_masker(env, here)
      config.warnings.each { |w| warn "kamal-siem: #{masker.text(w)}" }
      now = Text.now_ns
      chained = wrapper && "#{wrapper}#{CHAINED_SUFFIX}"
      request = Event.new(hook, argv, env, masker, secret_names, chained).build(now)
      spool = Spool.new(config.spool_dir, config.max_segment_bytes)
      spool.append(request, now)
      spool.anomalies.each { |a| warn "kamal-siem: spool: #{masker.text(a)}" }
      return 0 if config.no_delivery || config.destinations.empty?

      outcomes = Delivery.new(config, spool, env, masker, SECRET_HOOKS.include?(hook)).run
      report(outcomes, config, masker)
      config.fail_on_delivery_error && outcomes.any? { |o| o.status == :failed } ? 1 : 0
    rescue StandardError => e
      detail = masker ? masker.text(e.message) : "details withheld"
      warn "kamal-siem: #{hook}: the event was not recorded (#{e.class}: #{detail})"
      config&.fail_on_delivery_error ? 1 : 0
    end

    def report(outcomes, config, masker)
      outcomes.each do |o|
        if o.status == :ok
          warn "kamal-siem: #{o.name}: delivered #{o.sent} event(s)" if config.verbose && o.sent.positive?
          warn "kamal-siem: #{o.name}: #{masker.text(o.message)}" if o.message
        else
          kept = o.pending ? "#{o.pending} event(s) kept in the spool for the next run" : "events kept in the spool"
          warn "kamal-siem: #{o.name}: not delivered (#{masker.text(o.message)}); #{kept}"
        end
      end
      warn "kamal-siem: delivery failed and fail_on_delivery_error is set" if config.fail_on_delivery_error && outcomes.any? { |o| o.status == :failed }
    end

    # What a wrapper calls: record, then hand over to the app's own hook, if any.
    def main(hook, wrapper, argv)
      status = run(hook, argv, ENV, __dir__, wrapper)
      exit(status) unless status.zero?
      chained = "#{wrapper}#{CHAINED_SUFFIX}"
      exit(0) unless File.exist?(chained) || File.symlink?(chained)

      $stdout.flush
      $stderr.flush
      begin
        exec([chained, chained], *argv)
      rescue SystemCallError => e
        warn "kamal-siem: cannot run #{File.basename(chained)} (#{e.class})"
        exit(e.is_a?(Errno::ENOENT) ? 127 : 126)
      end
    end

    # `ruby emitter.rb flush`: deliver what the spool holds, ignoring the pause after a failure.
    def flush(env = ENV, here = __dir__)
      config, masker, = config_and_masker(env, here)
      config.warnings.each { |w| warn "kamal-siem: #{masker.text(w)}" }
      spool = Spool.new(config.spool_dir, config.max_segment_bytes)
      outcomes = Delivery.new(config, spool, env, masker, true).run(force: true)
      report(outcomes, config, masker)
      outcomes.each { |o| puts "#{o.name}: #{o.status} (#{o.sent} sent, #{o.pending.to_i} pending)" }
      outcomes.any? { |o| o.status != :ok } ? 1 : 0
    end
  end
end

if $PROGRAM_NAME == __FILE__
  case ARGV[0]
  when "flush" then exit(KamalSiem::Hook.flush)
  when "emit"
    hook = ARGV[1].to_s
    abort "usage: emitter.rb emit HOOK" unless KamalSiem::HOOKS.include?(hook)
    exit(KamalSiem::Hook.run(hook, ARGV[2..-1] || []))
  when "version" then puts KamalSiem::VERSION
  else abort "usage: emitter.rb flush | emit HOOK | version"
  end
end
