# bash completion for exsync and exsync-emulator (installed once per command name)
# Works with the bash-completion package and, more simply, without it.

_exsync_init()
{
  if declare -F _init_completion >/dev/null; then
    _init_completion
    return
  fi
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  words=("${COMP_WORDS[@]}")
  cword=$COMP_CWORD
}

_exsync_files()
{
  if declare -F _filedir >/dev/null; then
    _filedir
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}

_exsync()
{
  local cur prev words cword
  _exsync_init || return

  local globals="--db --key-file --format --output --failures-only --trace --cacert --resolve
                 --connect-to --proxy --noproxy --no-progress --help --version"
  local commands="demo test-enable import org profile mailbox autodiscover alerts job sync
                  status activity email act record replay"
  case $prev in
    --db | --key-file | --trace | --cacert | --config | --body-file | --out | --password-file | \
      -o | --output)
      _exsync_files
      return
      ;;
    --format)
      COMPREPLY=($(compgen -W "text json junit html" -- "$cur"))
      return
      ;;
    --protocol)
      COMPREPLY=($(compgen -W "autodetect negotiate ntlm basic" -- "$cur"))
      return
      ;;
    --mode)
      COMPREPLY=($(compgen -W "none once new_episodes all" -- "$cur"))
      return
      ;;
    --kind)
      COMPREPLY=($(compgen -W "appointment contact task" -- "$cur"))
      return
      ;;
    --state)
      COMPREPLY=($(compgen -W "received pending-send sending sent failed" -- "$cur"))
      return
      ;;
  esac

  # the command: the first word that is not a global option or its value
  local i cmd= sub=
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --db | --key-file | --format | --trace | --cacert | --resolve | --connect-to | --proxy | \
        --noproxy | -o | --output) ((i++)) ;;
      -*) ;;
      *)
        if [[ -z $cmd ]]; then cmd=${words[i]}; elif [[ -z $sub ]]; then sub=${words[i]}; fi
        ;;
    esac
  done

  local opts=
  case $cmd in
    "")
      if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$globals" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
      fi
      return
      ;;
    demo) opts="--keep" ;;
    test-enable)
      opts="--config --mailbox --this-org-only --delivery-timeout --retry-interval
            --max-retries --wait-retries"
      ;;
    import | replay | record)
      [[ $cmd == replay ]] && opts="--mode --update --password-env"
      [[ $cmd == record ]] && opts="--out --scrub --anonymize --name"
      if [[ $cur != -* ]]; then
        _exsync_files
        return
      fi
      ;;
    org) [[ -z $sub ]] && opts="show set" ;;
    profile) [[ -z $sub ]] && opts="create set show list delete test-enable" ||
      opts="--password-env --password-file --password-prompt --detach --this-org-only" ;;
    mailbox)
      [[ -z $sub ]] && opts="add import list show set apply-defaults approve reject test-enable" ||
        opts="--all --profile --no-test --password-env --password-file --password-prompt
              --this-org-only --delivery-timeout --retry-interval --max-retries --wait-retries"
      ;;
    autodiscover) opts="--user --password-env --password-file --password-prompt --protocol
                        --allow-non-ssl" ;;
    job) [[ -z $sub ]] && opts="list show wait" || opts="--timeout" ;;
    sync)
      opts="--once --all --mailbox --interval --backoff --max-backoff --retry-interval
            --max-retries --page-size --send-batch --workers --idle --lease --host --quiet"
      ;;
    status) opts="--format" ;;
    activity) [[ -z $sub ]] && opts="list" || opts="--mailbox --state --format" ;;
    email) [[ -z $sub ]] && opts="send" || opts="--from --to --subject --body-file" ;;
    act) [[ -z $sub ]] && opts="list add set delete" || opts="--mailbox --kind --format" ;;
  esac
  COMPREPLY=($(compgen -W "$opts --help $globals" -- "$cur"))
}

_exsync_emulator()
{
  local cur prev words cword
  _exsync_init || return

  case $prev in
    --scenario | --cert | --key | --ca-out | --keytab)
      _exsync_files
      return
      ;;
    --scenario-dir)
      COMPREPLY=($(compgen -d -- "$cur"))
      return
      ;;
    --listen | --tls-listen | --user | --impersonator | --max-connections | --idle-timeout | \
      --request-timeout | --max-header-bytes | --threads)
      return
      ;;
  esac
  COMPREPLY=($(compgen -W "--listen --tls-listen --scenario --user --impersonator --cert --key
                           --ca-out --scenario-dir --keytab --max-connections --idle-timeout
                           --request-timeout --max-header-bytes --threads --help --version" \
    -- "$cur"))
}

complete -F _exsync exsync
complete -F _exsync_emulator exsync-emulator
