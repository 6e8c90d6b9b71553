# bash completion for fairway(1). Commands and options come from the
# program itself (`fairway help`, `fairway help CMD`), so they never drift
# from what the installed binary accepts.

_fairway_commands()
{
	fairway help 2>/dev/null | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' |
		tr '|' '\n' | grep -E '^[a-z]+$'
	echo help
}

_fairway_options()
{
	# every --long option and -x short option in the command's usage text
	{ fairway help "$1" 2>/dev/null; fairway "$1" --help 2>/dev/null; } |
		grep -oE '(^|[ [|(])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[ [|(]//' | sort -u
}

_fairway()
{
	local cur prev cmd i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}

	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	# options that take a file or directory
	case $prev in
	-c|--secret|--db|--ctl|--config)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	--privacy)
		COMPREPLY=($(compgen -W "open community restricted" -- "$cur"))
		return 0 ;;
	--role)
		COMPREPLY=($(compgen -W "member moderator admin" -- "$cur"))
		return 0 ;;
	--backend)
		COMPREPLY=($(compgen -W "nft iptables" -- "$cur"))
		return 0 ;;
	--leaf)
		COMPREPLY=($(compgen -W "fq_codel cake sfq pfifo" -- "$cur"))
		return 0 ;;
	--log-format)
		COMPREPLY=($(compgen -W "text json" -- "$cur"))
		return 0 ;;
	esac

	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$(_fairway_commands) --version --help" -- "$cur"))
		return 0
	fi
	case $cmd in
	help)
		COMPREPLY=($(compgen -W "$(_fairway_commands)" -- "$cur"))
		return 0 ;;
	nat)
		if [ "$COMP_CWORD" -eq $((i + 1)) ] && [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "start stop info run probe" -- "$cur"))
			return 0
		fi ;;
	member|invite|alias|deny|room)
		local verbs
		case $cmd in
		member) verbs="add rm list role" ;;
		invite) verbs="create list revoke" ;;
		alias) verbs="list rm" ;;
		deny) verbs="add rm list" ;;
		room) verbs="set show import" ;;
		esac
		if [ "$COMP_CWORD" -eq $((i + 1)) ] && [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
			return 0
		fi
		if [ "$cmd" = room ] && [ "$prev" = set ]; then
			COMPREPLY=($(compgen -W "privacy name description" -- "$cur"))
			return 0
		fi
		if [ "$cmd" = room ] && [ "$prev" = privacy ]; then
			COMPREPLY=($(compgen -W "open community restricted" -- "$cur"))
			return 0
		fi ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_fairway_options "$cmd")" -- "$cur"))
	else
		case $cmd in
		nat|check)
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur")) ;;
		esac
	fi
	return 0
}
complete -F _fairway fairway
