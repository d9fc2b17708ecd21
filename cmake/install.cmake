# `cmake --install build --prefix P`: the programs, libexsync (static, with
# its public headers and a pkg-config file), the data files the programs read
# at run time (P/share/exsync, found relative to P/bin), man pages and bash
# completion.
install(TARGETS exsync exsync-emulator RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# libexsync.a needs libexsync_base.a (buffers, XML, time): both are installed.
install(TARGETS exsync_core exsync_base ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/core/include/exsync ${CMAKE_SOURCE_DIR}/core/base/include/exsync
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
file(RELATIVE_PATH EXSYNC_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" EXSYNC_PC_TO_PREFIX "${EXSYNC_PC_TO_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/exsync.pc.in ${CMAKE_BINARY_DIR}/exsync.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/exsync.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Data read at run time: the schemas (org, scenario, recording, EWS), the
# emulator's scenarios, and what `exsync demo` loads.
set(_data ${CMAKE_INSTALL_DATADIR}/exsync)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/fixtures/schema ${CMAKE_SOURCE_DIR}/fixtures/scenarios
                  ${CMAKE_SOURCE_DIR}/fixtures/demo
        DESTINATION ${_data})
install(FILES ${CMAKE_SOURCE_DIR}/fixtures/orgs/contoso.xml DESTINATION ${_data}/orgs)

install(FILES ${CMAKE_SOURCE_DIR}/man/exsync.1 ${CMAKE_SOURCE_DIR}/man/exsync-emulator.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/man/exsync-org.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
# bash-completion loads completions by command name: one file serves both.
install(FILES ${CMAKE_SOURCE_DIR}/completion/exsync.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME exsync)
install(FILES ${CMAKE_SOURCE_DIR}/completion/exsync.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME exsync-emulator)
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
